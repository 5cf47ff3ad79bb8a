"""One segmented frame as a program uses it: the class mask, the confidence, each class's share, polygons,
and the JSON form every results output writes (docs/outputs.md is the schema).

`Model.predict` and `Model.results` return it; the run loop makes one from each `FrameRecord`
(`FrameRecord.result()`), so a JSON line, an MQTT message and the Python API say the same things the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict

import numpy as np

from edgeseg.errors import require

if TYPE_CHECKING:
    from edgeseg.runtime.confidence import ConfidenceMap

cv2 = require("cv2", extra="cv")

# The stages a record reports, in data-path order. Later ones (render, end to end) are measured after the
# outputs have run, so no output could report them.
RECORD_STAGES = ("capture", "pre", "infer", "post")
POLYGON_TOLERANCE = 1.0  # pixels an outline may move when simplified (Douglas-Peucker)
SUMMARY_PIXELS = 1 << 16  # the confidence summary's grid: about a 256² network's output

Polygon = Dict[str, Any]  # {"outline": [x0, y0, x1, y1, …], "holes": [[x0, y0, …], …]}


def class_counts(mask: np.ndarray, classes: int) -> np.ndarray:
    """Pixels per class of a uint8 mask (OpenCV's histogram: a third faster than np.bincount, which widens
    every byte to 64 bits first; its float32 counts are exact up to 2^24 pixels, bincount's beyond)."""
    if mask.size > 1 << 24:
        return np.bincount(mask.ravel(), minlength=classes)[:classes]
    histogram = cv2.calcHist([np.ascontiguousarray(mask, np.uint8)], [0], None, [256], [0, 256])
    return histogram.reshape(-1)[:classes].astype(np.int64)


def class_shares(mask: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    """The share of the frame (0–1) each class covers, for every class of the model, by name."""
    counts = class_counts(mask, len(class_names))
    total = max(int(mask.size), 1)
    return {name: round(int(count) / total, 6) for name, count in zip(class_names, counts)}


def confidence_summary(mask: np.ndarray, confidence: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """The mean confidence over the frame, and over the pixels of each class present in it.

    mask and confidence: the same pixels, at the image's size or (`ConfidenceMap.summary`) at the network's.
    Over a regular grid of at most SUMMARY_PIXELS pixels (every k-th row and column): the mask and confidence at
    the image's size are the network's, scaled up, so a grid at about the network's pitch holds all they say,
    at a fraction of the cost (a weighted bincount of a full-HD frame takes longer than the rest of a record).
    """
    step = max(1, int(np.ceil(np.sqrt(mask.size / SUMMARY_PIXELS))))
    labels, values = mask[::step, ::step], confidence[::step, ::step]
    k = len(class_names)
    counts = class_counts(labels, k)
    sums = np.bincount(labels.ravel(), weights=values.ravel(), minlength=k)[:k]
    per_class = {class_names[c]: round(float(sums[c] / counts[c]), 4) for c in np.flatnonzero(counts)}
    pixels = int(counts.sum())
    return {"mean": round(float(sums.sum() / pixels), 4) if pixels else 0.0, "classes": per_class}


def _ring(contour: np.ndarray, tolerance: float, step: int) -> list[int] | None:
    """A contour as a flat [x0, y0, x1, y1, …] list (COCO's polygon form: one list of ints per ring, half the
    Python objects of [[x, y], …] to make and to encode) in image coordinates, or None under three points."""
    simplified = cv2.approxPolyDP(contour, tolerance / step, True) if tolerance > 0 else contour
    if simplified.size < 6:
        return None
    return (simplified.reshape(-1) * step).tolist() if step > 1 else simplified.reshape(-1).tolist()


def class_polygons(
    mask: np.ndarray, class_names: Sequence[str], tolerance: float = POLYGON_TOLERANCE
) -> dict[str, list[Polygon]]:
    """The outline of every region of each class present, with its holes, in image coordinates.

    Each region: {"outline": [x0, y0, x1, y1, …], "holes": [[x0, y0, …], …]}, OpenCV's contours (the centres of
    a region's border pixels) simplified by `tolerance` pixels. With a tolerance of 1 pixel or more, they are
    traced on every (⌊tolerance⌋ + 1)-th row and column: an outline may move by that tolerance anyway, and the
    trace takes a quarter of the time (the mask is the network's, scaled up, so little is lost). Regions too
    small for three points are left out (their pixels still count in the shares).
    """
    step = int(tolerance) + 1 if tolerance >= 1 else 1
    grid = np.ascontiguousarray(mask[::step, ::step]) if step > 1 else mask
    present = np.flatnonzero(class_counts(grid, len(class_names)))
    polygons: dict[str, list[Polygon]] = {}
    for c in present:
        binary = cv2.compare(grid, int(c), cv2.CMP_EQ)
        contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        if hierarchy is None:
            continue
        rings = [_ring(contour, tolerance, step) for contour in contours]
        links = hierarchy[0].tolist()  # per contour: next, previous, first child, parent
        regions = []
        for outline, (_, _, child, parent) in zip(rings, links):
            if parent != -1 or outline is None:
                continue  # a hole (listed under its region), or a speck
            holes = []
            while child != -1:
                if rings[child] is not None:
                    holes.append(rings[child])
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
    confidence_map: the confidence at the network's resolution, where the producer kept it: the JSON form's
        summary is taken from it (`ConfidenceMap.summary`), so the run's outputs and the API say the same.
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
    confidence_map: ConfidenceMap | None = field(default=None, repr=False, compare=False)

    def shares(self) -> dict[str, float]:
        """The share of the frame (0–1) each class covers, by class name (every class, zeros included)."""
        return class_shares(self.mask, self.class_names)

    def polygons(self, tolerance: float = POLYGON_TOLERANCE) -> dict[str, list[Polygon]]:
        """Per class present: its regions as {"outline": [x0, y0, x1, y1, …], "holes": [[x0, y0, …], …]}."""
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
        if self.confidence_map is not None:
            data["confidence"] = self.confidence_map.summary(self.class_names)
        elif self.confidence is not None:
            data["confidence"] = confidence_summary(self.mask, self.confidence, self.class_names)
        if polygons:
            data["polygons"] = self.polygons(tolerance)
        return data
