"""`edgeseg data import --format masks`: CVAT and Roboflow exports and palette PNGs, made from the synthetic set."""

from __future__ import annotations

import shutil

import numpy as np
from PIL import Image

from tests.bad_input import assert_refused, snapshot
from tests.data.import_sources import cvat_from_voc, imported, jpeg, label_of, roboflow_from_voc, split_ids, voc


def _synth_labels(root):
    return {p.stem: label_of(p) for p in (root / "SegmentationClass").glob("*.png")}


def test_cvat_colour_masks_come_back_as_the_labels_they_were_made_from(run_edgeseg, tiny_dataset, tmp_path):
    root = voc(tiny_dataset)
    src = cvat_from_voc(root, tmp_path / "cvat")
    before = snapshot(src)
    result = run_edgeseg("data", "import", src, "--format", "masks", "--out", tmp_path / "out", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert snapshot(src) == before
    assert (tmp_path / "out" / "classes.txt").read_text().split() == (root / "classes.txt").read_text().split()
    expected = _synth_labels(root)
    labels = imported(tmp_path / "out")
    assert labels.keys() == expected.keys()
    for image_id, label in labels.items():
        np.testing.assert_array_equal(label, expected[image_id])  # white is __ignore__ → 255
    with Image.open(tmp_path / "out" / "SegmentationClass" / f"{image_id}.png") as img:
        assert img.getpalette()[3:6] == [250, 50, 50]  # the label map's colours travel in the palette


def test_colours_in_no_label_map_are_reported_with_their_pixel_counts(run_edgeseg, tiny_dataset, tmp_path):
    root = voc(tiny_dataset)
    src = cvat_from_voc(root, tmp_path / "cvat", ignore_line=False)  # white is in no map now
    white = sum(int((label == 255).sum()) for label in _synth_labels(root).values())
    result = run_edgeseg("data", "import", src, "--format", "masks", "--out", tmp_path / "out", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "warning: 1 colour(s) or value(s) in no label map, painted 255 (ignored):" in result.stderr
    assert f"  #ffffff: {white:,} pixels in 24 image(s), first mask {src / 'SegmentationClass'}" in result.stderr
    for image_id, label in imported(tmp_path / "out").items():
        np.testing.assert_array_equal(label, _synth_labels(root)[image_id])  # still 255, never background
    before = snapshot(tmp_path)
    result = run_edgeseg("data", "import", src, "--format", "masks", "--out", tmp_path / "strict", "--strict")
    assert_refused(result, "#ffffff (", before, tmp_path)


def test_roboflow_index_masks_keep_their_splits(run_edgeseg, tiny_dataset, tmp_path):
    root = voc(tiny_dataset)
    src = roboflow_from_voc(root, tmp_path / "roboflow")
    result = run_edgeseg("data", "import", src, "--format", "masks", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    for split in ("train", "val"):
        assert split_ids(tmp_path / "out", split) == (root / f"ImageSets/Segmentation/{split}.txt").read_text().split()
    for image_id, label in imported(tmp_path / "out").items():
        np.testing.assert_array_equal(label, _synth_labels(root)[image_id])
    assert "warning" not in result.stderr  # the CSV names 0–3; 255 is "ignore" in a value map unless named


def test_palette_pngs_with_a_classes_file_and_chosen_classes(tiny_dataset, tmp_path):
    from edgeseg.data.importers import import_dataset

    root = voc(tiny_dataset)
    src = tmp_path / "src"
    shutil.copytree(root / "JPEGImages", src / "images")
    shutil.copytree(root / "SegmentationClass", src / "masks")  # VOC's own palette PNGs
    (src / "classes.txt").write_text("background\ncircle\nrectangle\ntriangle\n__ignore__\n")
    (src / "masks" / "synth_00003.png").unlink()
    summary = import_dataset(src, "masks", tmp_path / "out", classes=["triangle", "circle"], val_share=0.25, seed=1)
    assert summary.class_names == ("background", "triangle", "circle")
    assert summary.skipped.counts == {"missing mask": 1}
    assert summary.imported == {"train": 17, "val": 6}
    expected = _synth_labels(root)
    for image_id, label in imported(tmp_path / "out").items():
        want = np.choose(np.minimum(expected[image_id], 4), [0, 2, 0, 1, 255]).astype(np.uint8)
        want[expected[image_id] == 255] = 255
        np.testing.assert_array_equal(label, want)


def test_a_mask_of_another_size_is_an_error_naming_it(run_edgeseg, tiny_dataset, tmp_path):
    src = cvat_from_voc(voc(tiny_dataset), tmp_path / "cvat")
    victim = sorted((src / "SegmentationClass").glob("*.png"))[5]
    with Image.open(victim) as img:
        img.crop((0, 0, img.width - 3, img.height)).save(victim)
    before = snapshot(tmp_path)
    result = run_edgeseg("data", "import", src, "--format", "masks", "--out", tmp_path / "out", "--workers", "2")
    assert_refused(result, f"mask {victim} is", before, tmp_path)
    assert "the label and the image must be the same size" in result.stderr


def test_a_mask_drawn_on_a_phone_photo_as_displayed(tmp_path):
    """The mask has the displayed size of an EXIF-rotated photo: it stays as it is, and the image is turned."""
    from edgeseg.data.importers import import_dataset
    from edgeseg.data.voc import read_image

    stored = np.zeros((30, 40, 3), np.uint8)
    stored[0:10, 0:20] = 255
    mask = np.zeros((40, 30), np.uint8)
    mask[0:20, 20:30] = 1  # orientation 6 shows the block top-right
    for name in ("a", "b"):
        jpeg(tmp_path / "src" / "images" / f"{name}.jpg", stored, orientation=6)
        (tmp_path / "src" / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(tmp_path / "src" / "masks" / f"{name}.png")
    (tmp_path / "src" / "classes.txt").write_text("background\nblock\n")
    import_dataset(tmp_path / "src", "masks", tmp_path / "out")
    image = read_image(tmp_path / "out" / "JPEGImages" / "a.jpg")
    label = label_of(tmp_path / "out" / "SegmentationClass" / "a.png")
    assert ((image[..., 0] > 128) == (label == 1)).mean() > 0.99
