"""One segmented frame as a program uses it: the class mask, the confidence, each class's share, polygons,
and the JSON form every results output writes (docs/outputs.md is the schema).

`Model.predict` and `Model.results` return it; the run loop makes one from each `FrameRecord`
(`FrameRecord.result()`), so a JSON line, an MQTT message and the Python API say the same things the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Dict, List

import numpy as np

from edgeseg.errors import require

cv2 = require("cv2", extra="cv")

# The stages a record reports, in data-path order. Later ones (render, end to end) are measured after the
# outputs have run, so no output could report them.
RECORD_STAGES = ("capture", "pre", "infer", "post")
POLYGON_TOLERANCE = 1.0  # pixels an outline may move when simplified (Douglas-Peucker)

Point = List[int]  # [x, y]
Polygon = Dict[str, Any]  # {"outline": [[x, y], …], "holes": [[[x, y], …], …]}


def class_shares(mask: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    """The share of the frame (0–1) each class covers, for every class of the model, by name."""
    counts = np.bincount(mask.ravel(), minlength=len(class_names))[: len(class_names)]
    total = max(int(mask.size), 1)
    return {name: round(int(count) / total, 6) for name, count in zip(class_names, counts)}


def confidence_summary(mask: np.ndarray, confidence: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """The mean confidence over the frame, and over the pixels of each class present in it."""
    k = len(class_names)
    labels = mask.ravel()
    counts = np.bincount(labels, minlength=k)[:k]
    sums = np.bincount(labels, weights=confidence.ravel(), minlength=k)[:k]
    per_class = {class_names[c]: round(float(sums[c] / counts[c]), 4) for c in np.flatnonzero(counts)}
    return {"mean": round(float(confidence.mean()), 4) if confidence.size else 0.0, "classes": per_class}


def _ring(contour: np.ndarray, tolerance: float) -> list[Point] | None:
    simplified = cv2.approxPolyDP(contour, tolerance, True) if tolerance > 0 else contour
    points = simplified.reshape(-1, 2)
    return points.tolist() if len(points) >= 3 else None


def class_polygons(
    mask: np.ndarray, class_names: Sequence[str], tolerance: float = POLYGON_TOLERANCE
) -> dict[str, list[Polygon]]:
    """The outline of every region of each class present, with its holes, in image coordinates (x, y).

    OpenCV's contours (the centres of a region's border pixels), simplified by `tolerance` pixels. Regions
    one or two pixels across, whose outline has fewer than three points, are left out (their pixels still
    count in the shares).
    """
    present = np.flatnonzero(np.bincount(mask.ravel(), minlength=len(class_names))[: len(class_names)])
    polygons: dict[str, list[Polygon]] = {}
    for c in present:
        binary = cv2.compare(mask, int(c), cv2.CMP_EQ)
        contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        if hierarchy is None:
            continue
        links = hierarchy[0]  # per contour: next, previous, first child, parent
        regions = []
        for i, contour in enumerate(contours):
            if links[i][3] != -1:
                continue  # a hole: listed under its region
            outline = _ring(contour, tolerance)
            if outline is None:
                continue
            holes, child = [], links[i][2]
            while child != -1:
                hole = _ring(contours[child], tolerance)
                if hole is not None:
                    holes.append(hole)
                child = links[child][0]
            regions.append({"outline": outline, "holes": holes})
        if regions:
            polygons[class_names[c]] = regions
    return polygons


@dataclass
class SegmentationResult:
    """A frame's segmentation.

    mask: class indices, uint8 H×W, the image's own size (what `model(image)` returns).
    confidence: the top class's softmax probability per pixel, float32 H×W in [0, 1]; None where it was not
        computed (asked not to, or a class-map model exported without `--confidence`).
    class_names: the model's classes; mask value k is class_names[k].
    index, name: the frame's number in its source and its file name (or the number, for a stream).
    captured: wall-clock time (time.time(), seconds since the Unix epoch) when the frame was read.
    seconds: how long each stage took for this frame (capture, pre, infer, post), in seconds.
    image: the frame itself (BGR), where the producer kept it.
    """

    mask: np.ndarray
    class_names: Sequence[str]
    confidence: np.ndarray | None = None
    index: int = 0
    name: str = ""
    captured: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    image: np.ndarray | None = field(default=None, repr=False)
    stream: int = 0

    def shares(self) -> dict[str, float]:
        """The share of the frame (0–1) each class covers, by class name (every class, zeros included)."""
        return class_shares(self.mask, self.class_names)

    def polygons(self, tolerance: float = POLYGON_TOLERANCE) -> dict[str, list[Polygon]]:
        """Per class present: its regions as {"outline": [[x, y], …], "holes": [[[x, y], …], …]}, simplified."""
        return class_polygons(self.mask, self.class_names, tolerance)

    def to_dict(self, *, polygons: bool = False, tolerance: float = POLYGON_TOLERANCE) -> dict[str, Any]:
        """The JSON form (docs/outputs.md): plain Python types only, ready for json.dumps."""
        height, width = self.mask.shape[:2]
        latency = {s: round(1000 * self.seconds[s], 3) for s in RECORD_STAGES if s in self.seconds}
        data: dict[str, Any] = {
            "stream": int(self.stream),
            "index": int(self.index),
            "name": str(self.name),
            "captured": round(float(self.captured), 6),
            "width": int(width),
            "height": int(height),
            "latency_ms": latency,
            "shares": self.shares(),
        }
        if self.confidence is not None:
            data["confidence"] = confidence_summary(self.mask, self.confidence, self.class_names)
        if polygons:
            data["polygons"] = self.polygons(tolerance)
        return data
