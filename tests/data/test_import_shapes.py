"""The importers' building blocks: the pixel-centre rule for shapes (against pycocotools), RLE, EXIF turns,
class choice and splits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeseg.data.importers.common import NATIVE_IGNORE, choose_classes, safe_id, split_by_share
from edgeseg.data.importers.images import _transpose_methods, orient
from edgeseg.data.importers.raster import paint_circle, paint_polygon, paint_polyline, rle_mask
from edgeseg.data.voc import DataError


def _blank(height=40, width=50) -> np.ndarray:
    return np.zeros((height, width), np.uint16)


def test_a_rectangle_with_whole_corners_covers_exactly_its_pixels():
    label = _blank()
    painted = paint_polygon(label, np.array([[10, 20], [30, 20], [30, 35], [10, 35]], float), 7)
    expected = _blank()
    expected[20:35, 10:30] = 7
    np.testing.assert_array_equal(label, expected)
    assert painted == 20 * 15
    # two rectangles sharing an edge share no pixel, and leave no gap
    paint_polygon(label, np.array([[30, 20], [40, 20], [40, 35], [30, 35]], float), 8)
    assert (label[20:35, 10:30] == 7).all() and (label[20:35, 30:40] == 8).all()


def test_circle_and_line_follow_the_pixel_centre_rule():
    label = _blank()
    paint_circle(label, (20.0, 15.0), 6.0, 1)
    yy, xx = np.mgrid[0:40, 0:50] + 0.5
    np.testing.assert_array_equal(label == 1, (xx - 20) ** 2 + (yy - 15) ** 2 <= 36)
    label = _blank()
    paint_polyline(label, np.array([[5.0, 10.0], [45.0, 10.0], [45.0, 30.0]]), 4.0, 2)
    near = np.zeros((40, 50), bool)
    near[8:12, 5:45] = True  # centres 8.5 … 11.5 lie within 2 px of y = 10
    near[10:30, 43:47] = True
    inside_caps = ((xx - 45) ** 2 + (yy - 10) ** 2 <= 4) | ((xx - 5) ** 2 + (yy - 10) ** 2 <= 4)
    inside_caps |= (xx - 45) ** 2 + (yy - 30) ** 2 <= 4
    np.testing.assert_array_equal(label == 2, near | inside_caps)


def _distance_to_edges(px: np.ndarray, py: np.ndarray, points: np.ndarray) -> np.ndarray:
    distance = np.full(px.shape, np.inf)
    for (ax, ay), (bx, by) in zip(points, np.roll(points, -1, 0)):
        dx, dy = bx - ax, by - ay
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0, 1)
        distance = np.minimum(distance, np.hypot(px - ax - t * dx, py - ay - t * dy))
    return distance


def test_polygons_differ_from_pycocotools_only_within_a_fifth_of_a_pixel_of_an_edge():
    """pycocotools rounds vertices and edges to 1/5 pixel before taking pixel centres; edgeseg takes the exact
    coordinates. So the two disagree only on pixels whose centre lies within 0.2 px of an edge."""
    from pycocotools import mask as coco_mask

    rng = np.random.default_rng(5)
    equal = total = 0
    for _ in range(60):
        height, width = 240, 320
        corners = int(rng.integers(3, 24))
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        radius = rng.uniform(10, 100) * rng.uniform(0.6, 1.15, corners)
        centre = rng.uniform(0, width), rng.uniform(0, height)
        points = np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], 1)
        label = np.zeros((height, width), np.uint16)
        paint_polygon(label, points, 1)
        reference = coco_mask.decode(coco_mask.frPyObjects([points.ravel().tolist()], height, width))[..., 0]
        rows, cols = np.nonzero((label == 1) != (reference == 1))
        assert (_distance_to_edges(cols + 0.5, rows + 0.5, points) < 0.2).all()
        equal += label.size - rows.size
        total += label.size
    assert equal / total >= 0.999


@pytest.mark.parametrize("compressed", [True, False])
def test_rle_decodes_as_pycocotools_does(compressed):
    from pycocotools import mask as coco_mask

    mask = np.random.default_rng(1).random((37, 53)) > 0.6
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    counts = rle["counts"].decode()
    if not compressed:  # COCO's uncompressed form: a list of run lengths
        flat = mask.T.ravel()
        changes = np.flatnonzero(np.diff(flat)) + 1
        runs = np.diff(np.concatenate([[0], changes, [flat.size]]))
        counts = ([0] if flat[0] else []) + runs.tolist()
    np.testing.assert_array_equal(rle_mask(counts, 37, 53), mask)
    with pytest.raises(ValueError, match="add up to"):
        rle_mask(counts, 37, 52)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_label_turns_as_pillow_turns_the_image(orientation):
    label = np.arange(12, dtype=np.uint8).reshape(3, 4)
    expected = (
        label if orientation == 1 else np.asarray(Image.fromarray(label).transpose(_transpose_methods()[orientation]))
    )
    np.testing.assert_array_equal(orient(label, orientation), expected)
    np.testing.assert_array_equal(orient(label.astype(np.uint16), orientation), expected)


def test_classes_are_chosen_ordered_and_the_others_merged_or_ignored():
    native = ("background", "cat", "dog", "car")
    keep_all = choose_classes(native)
    assert keep_all.names == native and keep_all.apply(np.array([0, 3, NATIVE_IGNORE])).tolist() == [0, 3, 255]
    merged = choose_classes(native, ["car", "cat"])
    assert merged.names == ("background", "car", "cat")
    assert merged.apply(np.array([0, 1, 2, 3, NATIVE_IGNORE])).tolist() == [0, 2, 0, 1, 255]
    ignored = choose_classes(native, ["dog"], others="ignore")
    assert ignored.names == ("dog",) and ignored.apply(np.array([0, 1, 2, 3])).tolist() == [255, 255, 0, 255]
    with pytest.raises(DataError, match="--classes names 'cow', which the source does not have"):
        choose_classes(native, ["cow"])
    with pytest.raises(DataError, match="names the class 'cat' more than once"):
        choose_classes(("background", "cat", "cat"))
    with pytest.raises(DataError, match="at most 255; pick them with --classes"):
        choose_classes([f"c{i}" for i in range(300)])
    assert choose_classes([f"c{i}" for i in range(300)], ["c299"]).apply(np.array([299, 3])).tolist() == [1, 0]


def test_ids_and_splits():
    assert safe_id("my photo (1)") == "my_photo_1" and safe_id("a/b.c") == "a_b.c"
    keys = [f"k{i}" for i in range(50)]
    val = split_by_share(keys, 0.2, seed=3)
    assert len(val) == 10 and val == split_by_share(list(reversed(keys)), 0.2, seed=3)
    assert val != split_by_share(keys, 0.2, seed=4)
    assert len(split_by_share(["a", "b"], 0.9, 0)) == 1  # train keeps at least one
    with pytest.raises(DataError, match="at least 2"):
        split_by_share(["a"], 0.2, 0)
