"""LabelMe: a folder (searched recursively) of per-image JSON files, the image embedded or beside the JSON.

Shapes: polygon, rectangle (two corners), circle (centre and a point on the rim), line and linestrip (drawn
--line-width pixels wide: LabelMe stores no width), mask (LabelMe ≥ 5.3: a PNG over a box); points are ignored and
counted. Shapes are drawn in file order, later ones on top, as in LabelMe itself and its labelme2voc export.

Classes: labels.txt in SOURCE when there is one (labelme2voc's file: `__ignore__` → 255, `_background_` →
background), else `background` and every label found, sorted by name. Labels `_background_` and `background` are
class 0, `__ignore__` is 255.
"""

from __future__ import annotations

import base64
import binascii
import io
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.data.importers.coco import read_json
from edgeseg.data.importers.common import (
    BACKGROUND,
    NATIVE_IGNORE,
    Converted,
    Item,
    Skip,
    Tally,
    relative_id,
)
from edgeseg.data.importers.images import declared_frame, load_image, orient, read_image_file
from edgeseg.data.importers.raster import outside, paint_circle, paint_polygon, paint_polyline
from edgeseg.data.importers.writer import ImportSource
from edgeseg.data.voc import DataError, read_text_lines
from edgeseg.errors import describe, require
from edgeseg.runtime.media import IMAGE_SUFFIXES

BACKGROUND_LABELS = ("_background_", BACKGROUND)
IGNORE_LABEL = "__ignore__"
POLYGONS = ("polygon", "oriented_rectangle")


class LabelmeSource(ImportSource):
    format = "labelme"

    def __init__(self, source: Path, *, val_share: float | None = None, seed: int = 0, line_width: float = 3.0) -> None:
        if not source.is_dir():
            raise DataError(f"SOURCE must be the folder of LabelMe JSON files, got {source}")
        if line_width <= 0:
            raise DataError(f"--line-width must be a number of pixels > 0, got {line_width}")
        self.root, self.line_width = source, line_width
        self.listing_problems = Tally()
        self.description = f"LabelMe files in {source}"
        self.files = sorted(p for p in source.rglob("*.json") if not p.name.startswith("."))
        if not self.files:
            raise DataError(f"{source} holds no LabelMe .json files")
        labels_txt = source / "labels.txt"
        self.known = labels_txt.is_file()
        names = self._read_labels_txt(labels_txt) if self.known else self._scan_labels()
        self.native_names = tuple(names)
        self.index = {name: i for i, name in enumerate(names)}
        self.val_share, self.seed = 0.2 if val_share is None else val_share, seed
        self._items = [Item(relative_id(p, source), None, str(p.relative_to(source)), str(p)) for p in self.files]

    @staticmethod
    def _read_labels_txt(path: Path) -> list[str]:
        names = [BACKGROUND]
        for line in read_text_lines(path):
            name = line.strip()
            if name and name != IGNORE_LABEL and name not in BACKGROUND_LABELS:
                names.append(name)
        return names

    def _scan_labels(self) -> list[str]:
        """Every label in every file (a file that cannot be read is reported when it is converted)."""
        found: set[str] = set()
        for path in self.files:
            try:
                data = read_json(path)
            except DataError:
                continue
            shapes = data.get("shapes") if isinstance(data, dict) else None
            for shape in shapes if isinstance(shapes, list) else []:
                if isinstance(shape, dict) and isinstance(shape.get("label"), str):
                    found.add(shape["label"])
        return [BACKGROUND, *sorted(found - {IGNORE_LABEL, *BACKGROUND_LABELS})]

    def items(self) -> list[Item]:
        return self._items

    def convert(self, item: Item) -> Converted:
        path = Path(item.payload)
        try:
            data = read_json(path)
        except DataError as exc:
            raise Skip("malformed file", str(exc)) from None
        shapes = data.get("shapes") if isinstance(data, dict) else None
        if not isinstance(shapes, list):
            raise Skip("malformed file", f"{path} is not a LabelMe file: it has no 'shapes' list")
        image = self._image(data, path, item.name)
        declared = (data.get("imageWidth"), data.get("imageHeight"))
        size = declared if all(isinstance(v, int) and v > 0 for v in declared) else None
        stored = declared_frame(size, image, f"{item.name}: imageWidth × imageHeight")
        width, height = size or image.size
        label = np.zeros((height, width), np.uint16)
        converted = Converted(image, label)
        for number, shape in enumerate(shapes, start=1):
            self._paint(label, shape, f"{item.name}, shape {number}", converted)
        converted.label = orient(label, image.orientation) if stored else label
        return converted

    @staticmethod
    def _image(data: dict, path: Path, name: str):
        """The embedded image (imageData, as LabelMe reads it first), else the file imagePath names."""
        embedded = data.get("imageData")
        if isinstance(embedded, str) and embedded:
            try:
                raw = base64.b64decode(embedded, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise Skip("malformed file", f"{name}: its imageData is not base64 ({exc})") from None
            return load_image(raw, "", f"{name} (imageData)")
        image_path = data.get("imagePath")
        candidates = []
        if isinstance(image_path, str) and image_path:
            relative = Path(image_path.replace("\\", "/"))
            candidates += [path.parent / relative, path.parent / relative.name]
        candidates += [path.with_suffix(s) for s in IMAGE_SUFFIXES]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise Skip("missing image", f"{name}: no imageData, and its image {image_path!r} is not beside it")
        return read_image_file(found, str(found))

    def _paint(self, label: np.ndarray, shape: Any, where: str, converted: Converted) -> None:
        height, width = label.shape
        if not isinstance(shape, dict):
            converted.problems.add("degenerate shape", f"{where}: not a shape")
            return
        kind = shape.get("shape_type") or "polygon"
        if kind == "point":
            converted.notes.add("point", where)
            return
        value = self._value(shape.get("label"), where, converted)
        points = _points(shape.get("points"))
        if points is None:
            converted.problems.add("degenerate shape", f"{where}: its points are not a list of (x, y) numbers")
            return
        needed = {"rectangle": 2, "circle": 2, "line": 2, "linestrip": 2, "mask": 2}.get(kind, 3)
        if kind not in (*POLYGONS, "rectangle", "circle", "line", "linestrip", "mask"):
            converted.problems.add("unknown shape type", f"{where}: shape_type {kind!r} is not one LabelMe writes")
            return
        if len(points) < needed:
            converted.problems.add("degenerate shape", f"{where}: a {kind} with {len(points)} point(s)")
            return
        if kind == "circle":
            (cx, cy), (px, py) = points[:2]
            radius = float(np.hypot(px - cx, py - cy))
            if outside(np.array([[cx - radius, cy - radius], [cx + radius, cy + radius]]), width, height):
                converted.problems.add("outside", f"{where}: a circle entirely outside the {width}×{height} image")
            else:
                paint_circle(label, (cx, cy), radius, value)
            return
        if outside(points, width, height):
            converted.problems.add("outside", f"{where}: a {kind} entirely outside the {width}×{height} image")
        elif kind == "rectangle":
            (x0, y0), (x1, y1) = points[:2]
            paint_polygon(label, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), value)
        elif kind in ("line", "linestrip"):
            paint_polyline(label, points if kind == "linestrip" else points[:2], self.line_width, value)
        elif kind == "mask":
            _paint_mask(label, shape.get("mask"), points, value, where, converted)
        else:
            paint_polygon(label, points, value)

    def _value(self, name: Any, where: str, converted: Converted) -> int:
        if name in BACKGROUND_LABELS:
            return 0
        if name == IGNORE_LABEL:
            return NATIVE_IGNORE
        if name in self.index:
            return self.index[name]
        converted.problems.add("unknown label", f"{where}: label {name!r} is not in {self.root / 'labels.txt'}")
        return NATIVE_IGNORE


def _points(points: Any) -> np.ndarray | None:
    if not isinstance(points, list) or not all(
        isinstance(p, (list, tuple))
        and len(p) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v) for v in p)
        for p in points
    ):
        return None
    return np.asarray(points, np.float64).reshape(-1, 2)


def _paint_mask(label: np.ndarray, encoded: Any, points: np.ndarray, value: int, where: str, converted) -> None:
    """LabelMe's mask shape: a PNG whose top-left pixel is at the first point (as labelme places it)."""
    pil_image = require("PIL.Image", extra="train")
    try:
        with pil_image.open(io.BytesIO(base64.b64decode(encoded))) as img:
            mask = np.asarray(img.convert("L")) > 0
    except Exception as exc:
        converted.problems.add("bad segmentation", f"{where}: its mask cannot be decoded ({describe(exc)})")
        return
    x0, y0 = (int(v) for v in points[0])
    height, width = label.shape
    top, left = max(0, y0), max(0, x0)
    bottom, right = min(height, y0 + mask.shape[0]), min(width, x0 + mask.shape[1])
    if bottom <= top or right <= left:
        converted.problems.add("outside", f"{where}: a mask entirely outside the image")
        return
    part = mask[top - y0 : bottom - y0, left - x0 : right - x0]
    label[top:bottom, left:right][part] = value
