"""`edgeseg data import --format labelme` on LabelMe files made here with known geometry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.bad_input import assert_refused, snapshot
from tests.data.import_sources import imported, jpeg, label_of, labelme_json, png_bytes, shape


def _photo(height=40, width=60) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)


def test_every_shape_type_lands_on_its_pixels(run_edgeseg, tmp_path):
    src = tmp_path / "labels"
    image = jpeg(src / "a.jpg", _photo())
    shapes = [
        shape("road", "rectangle", [(0, 20), (60, 40)]),
        shape("car", "polygon", [(10, 5), (30, 5), (30, 15), (10, 15)]),
        shape("sign", "circle", [(45, 10), (45, 14)]),
        shape("crack", "linestrip", [(0, 30), (60, 30)]),
        shape("car", "point", [(5, 5)]),
        shape("__ignore__", "rectangle", [(50, 35), (60, 40)]),
    ]
    labelme_json(src / "a.json", shapes, image=image, size=(60, 40))
    labelme_json(src / "sub" / "b.json", shapes[:1], embed=png_bytes(_photo()), size=(60, 40))  # imageData
    before = snapshot(src)
    out = tmp_path / "out"
    result = run_edgeseg("data", "import", src, "--format", "labelme", "--out", out, "--line-width", "2")
    assert result.returncode == 0, result.stderr
    assert snapshot(src) == before
    assert (out / "classes.txt").read_text().split() == ["background", "car", "crack", "road", "sign"]
    labels = imported(out)
    assert set(labels) == {"a", "sub_b"}  # ids from the path below SOURCE
    expected = np.zeros((40, 60), np.uint8)
    expected[20:40, :] = 3  # road
    expected[5:15, 10:30] = 1  # car: whole corners → exactly these pixels
    yy, xx = np.mgrid[0:40, 0:60] + 0.5
    expected[(xx - 45) ** 2 + (yy - 10) ** 2 <= 16] = 4  # sign: centre within 4 px
    expected[29:31, :] = 2  # crack: centres 29.5 and 30.5 lie within 1 px of y = 30 (later shapes on top)
    expected[35:40, 50:60] = 255  # __ignore__
    np.testing.assert_array_equal(labels["a"], expected)
    assert (labels["sub_b"][20:] == 3).all() and (labels["sub_b"][:20] == 0).all()
    assert "1 × points ignored" in result.stdout
    assert (out / "JPEGImages" / "sub_b.png").is_file()  # the embedded PNG, written as a PNG


def test_labels_txt_fixes_the_order_and_unknown_labels_become_255(tmp_path):
    from edgeseg.data.importers import import_dataset

    src = tmp_path / "src"
    for name in ("a", "b"):
        image = jpeg(src / f"{name}.jpg", _photo())
        labelme_json(src / f"{name}.json", [shape("zebra", "rectangle", [(0, 0), (10, 10)])], image=image)
        shapes = [shape("ant", "rectangle", [(20, 0), (30, 10)]), shape("zebra", "rectangle", [(0, 0), (10, 10)])]
        labelme_json(src / f"{name}.json", [*shapes, shape("yak", "rectangle", [(40, 0), (50, 10)])], image=image)
    (src / "labels.txt").write_text("__ignore__\n_background_\nzebra\nant\n")  # labelme2voc's file
    summary = import_dataset(src, "labelme", tmp_path / "out")
    assert summary.class_names == ("background", "zebra", "ant")
    label = label_of(tmp_path / "out" / "SegmentationClass" / "a.png")
    assert label[5, 5] == 1 and label[5, 25] == 2 and label[5, 45] == 255
    assert summary.problems.counts == {"unknown label": 2}
    assert "label 'yak' is not in" in summary.problems.first["unknown label"]


@pytest.mark.parametrize("declared", ["displayed", "stored"])
def test_a_phone_photo_keeps_its_label_on_the_object(tmp_path, declared):
    """EXIF orientation 8 (turn 90° counter-clockwise to show) and a LabelMe rectangle over a white block."""
    from edgeseg.data.importers import import_dataset
    from edgeseg.data.voc import read_image

    stored = np.zeros((30, 40, 3), np.uint8)
    stored[0:10, 0:20] = 255  # top-left of the stored pixels; displayed: bottom-left, rows 20–39, columns 0–9
    box, size = ([(0, 20), (10, 40)], (30, 40)) if declared == "displayed" else ([(0, 0), (20, 10)], (40, 30))
    for name in ("a", "b"):
        image = jpeg(tmp_path / "src" / f"{name}.jpg", stored, orientation=8)
        labelme_json(tmp_path / "src" / f"{name}.json", [shape("block", "rectangle", box)], image=image, size=size)
    import_dataset(tmp_path / "src", "labelme", tmp_path / "out", val_share=0.5)
    image = read_image(tmp_path / "out" / "JPEGImages" / "a.jpg")
    label = label_of(tmp_path / "out" / "SegmentationClass" / "a.png")
    assert image.shape[:2] == label.shape == (40, 30)
    assert ((image[..., 0] > 128) == (label == 1)).mean() > 0.99


def test_bad_files_are_counted_or_refused_with_strict(run_edgeseg, tmp_path):
    src = tmp_path / "src"
    for name in ("a", "b", "c"):
        image = jpeg(src / f"{name}.jpg", _photo())
        labelme_json(src / f"{name}.json", [shape("car", "rectangle", [(0, 0), (10, 10)])], image=image)
    (src / "broken.json").write_text('{"shapes": [')
    labelme_json(src / "lost.json", [shape("car", "rectangle", [(0, 0), (10, 10)])])  # image "gone.jpg"
    data = json.loads((src / "c.json").read_text())
    data["shapes"].append(shape("car", "polygon", [(1, 1), (5, 5)]))
    (src / "c.json").write_text(json.dumps(data))
    result = run_edgeseg("data", "import", src, "--format", "labelme", "--out", tmp_path / "o", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert set(imported(tmp_path / "o")) == {"a", "b", "c"}
    assert (
        f"skipped 1 × annotation file that cannot be read (first: {src / 'broken.json'} is not valid JSON"
        in result.stderr
    )
    assert "skipped 1 × image not found (first: lost.json: no imageData, and its image 'gone.jpg'" in result.stderr
    assert (
        "1 × shape with fewer than 3 points or invalid coordinates, not drawn (first: c.json, shape 2" in result.stderr
    )
    before = snapshot(tmp_path)
    result = run_edgeseg("data", "import", src, "--format", "labelme", "--out", tmp_path / "s", "--strict")
    assert_refused(result, "(--strict stops at the first problem", before, tmp_path)


def test_mask_and_line_shapes(tmp_path):
    """LabelMe ≥ 5.3 mask shapes (a PNG placed with its top-left pixel at the first point) and two-point lines."""
    import base64

    from edgeseg.data.importers.labelme import LabelmeSource

    mask = np.zeros((4, 5), np.uint8)
    mask[1:3, 1:4] = 255
    mask_shape = {**shape("blob", "mask", [(30, 2), (34, 5)]), "mask": base64.b64encode(png_bytes(mask)).decode()}
    line = shape("wire", "line", [(0, 35), (60, 35)])
    for name in ("a", "b"):
        image = jpeg(tmp_path / "src" / f"{name}.jpg", _photo())
        labelme_json(tmp_path / "src" / f"{name}.json", [mask_shape, line], image=image)
    source = LabelmeSource(tmp_path / "src", line_width=1)
    label = source.convert(source.items()[0]).label
    assert source.native_names == ("background", "blob", "wire")
    expected = np.zeros((40, 60), np.uint16)
    expected[3:5, 31:34] = 1
    expected[34:36, 0:60] = 2  # width 1: centres 34.5 and 35.5 are exactly 0.5 px from y = 35 → both in
    np.testing.assert_array_equal(label, expected)
