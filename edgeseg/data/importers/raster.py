"""Shapes to pixels: polygons, circles, lines of a width, and COCO run-length encodings.

One rule for every shape (docs/training.md, "Train on your own labels"): coordinates are in pixels with the
origin at the top-left corner of the top-left pixel, so pixel (col, row) covers [col, col + 1) × [row, row + 1)
and its centre is (col + 0.5, row + 0.5). A pixel belongs to a shape when its centre lies inside it: inside a
polygon by the even-odd rule (a centre exactly on a left or top edge is inside, on a right or bottom edge
outside, so two polygons sharing an edge never share a pixel), within the radius of a circle, within half the
width of a line. This is what the annotator saw in LabelMe, CVAT or Label Studio, where a corner clicked at
(10, 20) is the top-left corner of pixel (10, 20).

Every painter writes `value` into `label` where the shape is and returns how many pixels it painted, and never
allocates more than a band of rows at a time, so a shape on a 12-megapixel photo stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ROWS_PER_BAND = 256  # rows rasterised at once: bounds the (rows × edges) intersection table


def _row_range(lo: float, hi: float, height: int) -> range:
    """Rows whose centre (row + 0.5) lies in [lo, hi]."""
    first = max(0, int(np.ceil(lo - 0.5)))
    last = min(height - 1, int(np.floor(hi - 0.5)))
    return range(first, last + 1)


def paint_polygon(label: np.ndarray, points: np.ndarray, value: int) -> int:
    """Fill the polygon `points` (N×2 x, y; N ≥ 3, finite) with `value`; returns the pixels painted."""
    height, width = label.shape
    x0, y0 = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    rows = _row_range(float(y0.min()), float(y0.max()), height)
    painted = 0
    for start in range(rows.start, rows.stop, ROWS_PER_BAND):
        band = np.arange(start, min(start + ROWS_PER_BAND, rows.stop))
        centre_y = band[:, None] + 0.5
        # An edge crosses a row when its ends lie on either side of the row's centre line (half-open, so a
        # vertex on the line counts once).
        crosses = (y0 <= centre_y) != (y1 <= centre_y)
        row_index, edge = np.nonzero(crosses)
        if row_index.size == 0:
            continue
        t = (centre_y[row_index, 0] - y0[edge]) / (y1[edge] - y0[edge])
        x = x0[edge] + t * (x1[edge] - x0[edge])
        # Pixel col is right of the crossing when col + 0.5 > x; parity of crossings to its left = inside.
        first_col = np.clip(np.floor(np.clip(x, -2.0, width + 2.0) - 0.5).astype(np.int64) + 1, 0, width)
        toggles = np.zeros((band.size, width + 1), np.int32)
        np.add.at(toggles, (row_index, first_col), 1)
        inside = (np.cumsum(toggles[:, :width], axis=1) & 1).astype(bool)
        target = label[band[0] : band[-1] + 1]
        target[inside] = value
        painted += int(inside.sum())
    return painted


def paint_circle(label: np.ndarray, centre: tuple[float, float], radius: float, value: int) -> int:
    """Fill the pixels whose centre is within `radius` of `centre` (x, y)."""
    height, width = label.shape
    cx, cy = centre
    rows = _row_range(cy - radius, cy + radius, height)
    cols = _row_range(cx - radius, cx + radius, width)
    if not rows or not cols:
        return 0
    yy = np.arange(rows.start, rows.stop)[:, None] + 0.5 - cy
    xx = np.arange(cols.start, cols.stop)[None, :] + 0.5 - cx
    inside = yy**2 + xx**2 <= radius**2
    label[rows.start : rows.stop, cols.start : cols.stop][inside] = value
    return int(inside.sum())


def paint_polyline(label: np.ndarray, points: np.ndarray, line_width: float, value: int) -> int:
    """Paint the pixels whose centre is within line_width / 2 of the polyline through `points` (N ≥ 2)."""
    height, width = label.shape
    half = line_width / 2
    covered = np.zeros(label.shape, bool)
    for (ax, ay), (bx, by) in zip(points[:-1].tolist(), points[1:].tolist()):
        rows = _row_range(min(ay, by) - half, max(ay, by) + half, height)
        cols = _row_range(min(ax, bx) - half, max(ax, bx) + half, width)
        if not rows or not cols:
            continue
        py = np.arange(rows.start, rows.stop)[:, None] + 0.5
        px = np.arange(cols.start, cols.stop)[None, :] + 0.5
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = np.zeros(1) if length2 == 0 else np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
        near = (px - (ax + t * dx)) ** 2 + (py - (ay + t * dy)) ** 2 <= half * half
        covered[rows.start : rows.stop, cols.start : cols.stop] |= near
    label[covered] = value
    return int(covered.sum())


def polygon_area(points: np.ndarray) -> float:
    """The area the polygon encloses (shoelace formula), without rasterising it."""
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def outside(points: np.ndarray, width: int, height: int) -> bool:
    """Whether the shape's bounding box misses the image entirely."""
    xs, ys = points[:, 0], points[:, 1]
    return bool(xs.max() <= 0 or ys.max() <= 0 or xs.min() >= width or ys.min() >= height)


def rle_counts(counts: Sequence[int] | str) -> list[int]:
    """COCO run lengths: a list as given, or decoded from COCO's compressed string (pycocotools' rleFrString)."""
    if not isinstance(counts, str):
        return [int(c) for c in counts]
    runs: list[int] = []
    position = 0
    while position < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(counts):
                raise ValueError("the compressed counts end in the middle of a number")
            code = ord(counts[position]) - 48
            value |= (code & 0x1F) << (5 * shift)
            more = bool(code & 0x20)
            position += 1
            shift += 1
            if not more and code & 0x10:
                value |= -1 << (5 * shift)  # negative: a difference from the run two before
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def rle_mask(counts: Sequence[int] | str, height: int, width: int) -> np.ndarray:
    """A COCO RLE as an H×W bool mask; runs alternate background/foreground in column-major order."""
    runs = np.asarray(rle_counts(counts), np.int64)
    if (runs < 0).any() or runs.sum() != height * width:
        raise ValueError(f"its run lengths add up to {int(runs.sum())}, not {height}×{width} = {height * width}")
    values = np.zeros(runs.size, bool)
    values[1::2] = True
    return np.repeat(values, runs).reshape(width, height).T
