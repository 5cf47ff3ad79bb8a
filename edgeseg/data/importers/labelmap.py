"""Label maps: which colour or pixel value of a mask PNG is which class.

    labelmap.txt   CVAT's "Segmentation mask" export: `name:r,g,b:parts:actions` a line     → colours
    *.csv          Roboflow's _classes.csv: `Pixel Value, Class` rows                       → values
                   or a header with name and r, g, b columns                                 → colours
    *.txt          one class name a line; line 1 is pixel value 0 (classes.txt)             → values

A name `__ignore__` marks a colour or value as 255 (ignored) instead of a class; in a value map, 255 is ignored
unless the map names it (the convention of VOC, Cityscapes and mmsegmentation). A mask is read in the map's
terms: colours from its RGB pixels (a palette PNG's palette applied), values from its indices or gray levels.
Anything the map does not name is painted 255 and counted with its pixels, never silently made background.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeseg.data.importers.common import NATIVE_IGNORE, Skip
from edgeseg.data.voc import DataError, read_text_lines
from edgeseg.errors import describe, require

IGNORE_NAME = "__ignore__"
IGNORE_VALUE = 255
VALUE_COLUMNS = ("pixel value", "pixel", "value", "index", "id")
NAME_COLUMNS = ("class", "name", "label")
COLOUR_COLUMNS = (("r", "g", "b"), ("red", "green", "blue"))


@dataclass(frozen=True)
class LabelMap:
    path: Path
    names: tuple[str, ...]  # the classes, in the map's order
    keys: dict[int, int]  # colour (0xRRGGBB) or pixel value → class index (NATIVE_IGNORE for __ignore__)
    colours: bool  # True: keys are colours; False: pixel values

    @property
    def palette(self) -> np.ndarray | None:
        if not self.colours:
            return None
        colour_of = {index: key for key, index in self.keys.items() if index != NATIVE_IGNORE}
        codes = [colour_of[i] for i in range(len(self.names))]
        return np.array([[(c >> 16) & 255, (c >> 8) & 255, c & 255] for c in codes], np.uint8)


def colour_name(code: int) -> str:
    return f"#{code:06x}"


def read_label_map(path: Path) -> LabelMap:
    """Parse a label map file by its form (module docstring), or say what forms are understood."""
    if not path.is_file():
        raise DataError(f"label map not found: {path}")
    lines = [line.strip() for line in read_text_lines(path)]
    if path.suffix.lower() == ".csv":
        return _from_csv(path, lines)
    entries = [line for line in lines if line and not line.startswith("#")]
    if entries and all(":" in line for line in entries):
        return _from_cvat(path, entries)
    return _build(path, [(name, value) for value, name in enumerate(lines) if name], colours=False)


def _build(path: Path, entries: list[tuple[str, int]], colours: bool) -> LabelMap:
    names: list[str] = []
    keys: dict[int, int] = {}
    for name, key in entries:
        if key in keys:
            kind = colour_name(key) if colours else f"value {key}"
            raise DataError(f"{path} gives {kind} to two classes; each colour or value must name one class")
        if name == IGNORE_NAME:
            keys[key] = NATIVE_IGNORE
            continue
        if name not in names:  # two colours for one class are allowed: both become that class
            names.append(name)
        keys[key] = names.index(name)
    if not names:
        raise DataError(f"{path} names no class")
    if not colours:
        keys.setdefault(IGNORE_VALUE, NATIVE_IGNORE)  # VOC's, Cityscapes' and mmseg's "ignore", unless named
    return LabelMap(path, tuple(names), keys, colours)


def _from_cvat(path: Path, entries: list[str]) -> LabelMap:
    parsed = []
    for line in entries:
        name, _, rest = line.partition(":")
        colour = rest.split(":", 1)[0]
        try:
            r, g, b = (int(v) for v in colour.split(","))
        except ValueError:
            raise DataError(f"{path}: {line!r} is not `name:r,g,b:parts:actions` (CVAT's labelmap.txt)") from None
        parsed.append((name.strip(), (r << 16) | (g << 8) | b))
    return _build(path, parsed, colours=True)


def _from_csv(path: Path, lines: list[str]) -> LabelMap:
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO("\n".join(lines))) if any(row)]
    if not rows:
        raise DataError(f"{path} is empty")
    header = [cell.lower() for cell in rows[0]]
    name = next((header.index(c) for c in NAME_COLUMNS if c in header), None)
    value = next((header.index(c) for c in VALUE_COLUMNS if c in header), None)
    rgb = next(([header.index(c) for c in cols] for cols in COLOUR_COLUMNS if set(cols) <= set(header)), None)
    if name is None or (value is None and rgb is None):
        raise DataError(
            f"{path}: a CSV label map needs a header with a class column ({', '.join(NAME_COLUMNS)}) and a "
            f"'Pixel Value' column or r, g, b columns; its header is {', '.join(rows[0])}"
        )
    entries = []
    for number, row in enumerate(rows[1:], start=2):
        try:
            if rgb is not None:
                r, g, b = (int(row[i]) for i in rgb)
                key = (r << 16) | (g << 8) | b
            else:
                key = int(row[value])  # type: ignore[index]
            entries.append((row[name], key))
        except (ValueError, IndexError):
            raise DataError(f"{path}, line {number}: {','.join(row)!r} does not fit the header") from None
    return _build(path, entries, colours=rgb is not None)


def read_mask(path: Path, label_map: LabelMap) -> tuple[np.ndarray, Counter]:
    """A mask file → (native class indices as uint16, unknown colour or value → pixels)."""
    pil_image = require("PIL.Image", extra="train")
    try:
        with pil_image.open(path) as img:
            img.load()
            if label_map.colours:
                rgb = np.asarray(img.convert("RGB")).astype(np.int64)
                codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            elif img.mode in ("P", "L", "I", "I;16", "1"):
                codes = np.asarray(img).astype(np.int64)
            else:
                rgb = np.asarray(img.convert("RGB")).astype(np.int64)
                if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
                    raise DataError(
                        f"mask {path} is a colour image but {label_map.path} gives pixel values; "
                        "pass a label map with colours (CVAT's labelmap.txt, or a CSV with r, g, b columns)"
                    )
                codes = rgb[..., 0]
    except DataError:
        raise
    except Exception as exc:
        raise Skip("malformed file", f"cannot read mask {path} ({describe(exc)})") from None
    found, inverse = np.unique(codes, return_inverse=True)
    mapped = np.array([label_map.keys.get(int(k), NATIVE_IGNORE) for k in found], np.uint16)
    unknown = Counter()
    counts = np.bincount(inverse.ravel(), minlength=found.size)
    for key, count in zip(found.tolist(), counts.tolist()):
        if key not in label_map.keys:
            unknown[colour_name(key) if label_map.colours else f"value {key}"] += count
    return mapped[inverse].reshape(codes.shape), unknown
