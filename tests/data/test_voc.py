"""Reading VOC-format datasets: layouts, image kinds, label encodings, and `edgeseg data` on real files."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edgeseg.data.synth import write_label_png
from edgeseg.data.voc import DataError, find_root, load_split, read_image, read_label
from edgeseg.runtime.palette import voc_palette


def test_synth_writes_exact_voc_layout(run_edgeseg, tmp_path):
    result = run_edgeseg("data", "synth", tmp_path, "--images", "10", "--size", "40", "--classes", "3", "--seed", "4")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "VOCdevkit" / "VOC2012"
    ids = (root / "ImageSets/Segmentation/train.txt").read_text().split()
    val = (root / "ImageSets/Segmentation/val.txt").read_text().split()
    assert len(ids) == 8 and len(val) == 2 and not set(ids) & set(val)
    assert (root / "classes.txt").read_text().split() == ["background", "circle", "rectangle"]
    label_img = Image.open(root / "SegmentationClass" / f"{ids[0]}.png")
    assert label_img.mode == "P"  # palette PNG, as VOC stores labels
    labels = np.concatenate([np.asarray(Image.open(root / "SegmentationClass" / f"{i}.png")).ravel() for i in ids])
    assert set(np.unique(labels)) <= {0, 1, 2, 255} and (labels == 255).any()  # VOC-like boundary band
    image = cv2.imread(str(root / "JPEGImages" / f"{ids[0]}.jpg"))
    assert max(image.shape[:2]) == 40 and image.shape[:2] == label_img.size[::-1]


def test_synth_is_reproducible(tmp_path):
    from edgeseg.data.synth import synth_dataset

    a = synth_dataset(tmp_path / "a", images=3, size=32, seed=7)
    b = synth_dataset(tmp_path / "b", images=3, size=32, seed=7)
    for name in ("SegmentationClass/synth_00001.png", "JPEGImages/synth_00002.jpg"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_root_is_found_at_any_level(tiny_dataset):
    root = tiny_dataset / "VOCdevkit" / "VOC2012"
    for given in (tiny_dataset, tiny_dataset / "VOCdevkit", root):
        assert find_root(given) == root
    with pytest.raises(DataError, match="not a VOC-format dataset"):
        find_root(tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages")


def test_grayscale_and_rgba_images_become_rgb(tmp_path):
    gray = (np.arange(12 * 10) % 256).astype(np.uint8).reshape(12, 10)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    rgba = np.dstack([np.full((12, 10), v, np.uint8) for v in (10, 20, 30, 128)])  # B, G, R, A
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    assert np.array_equal(read_image(tmp_path / "gray.png"), np.dstack([gray] * 3))
    assert read_image(tmp_path / "rgba.png")[0, 0].tolist() == [30, 20, 10]


@pytest.mark.parametrize("encoding", ["palette", "single-channel", "voc-colours"])
def test_label_encodings_give_class_indices(tmp_path, encoding):
    label = np.array([[0, 1, 2], [3, 255, 1]], np.uint8)
    path = tmp_path / "label.png"
    if encoding == "palette":
        write_label_png(path, label)
    elif encoding == "single-channel":
        Image.fromarray(label, mode="L").save(path)
    else:
        colours = voc_palette(256)[label]
        colours[label == 255] = (224, 224, 192)  # VOC's border colour
        Image.fromarray(colours, mode="RGB").save(path)
    assert np.array_equal(read_label(path, num_classes=4), label)


def test_unknown_label_colour_is_refused(tmp_path):
    Image.fromarray(np.full((4, 4, 3), (1, 2, 3), np.uint8), mode="RGB").save(tmp_path / "l.png")
    with pytest.raises(DataError, match="not VOC palette colours"):
        read_label(tmp_path / "l.png", 21)


def test_sbd_aug_split_reads_segmentation_class_aug(tiny_dataset, tmp_path):
    data = tmp_path / "voc"
    shutil.copytree(tiny_dataset / "VOCdevkit" / "VOC2012", data)
    (data / "SegmentationClassAug").mkdir()
    aug_id = "synth_00003"
    Image.fromarray(np.zeros((48, 48), np.uint8), mode="L").save(data / "SegmentationClassAug" / f"{aug_id}.png")
    (data / "ImageSets/Segmentation/train_aug.txt").write_text(f"{aug_id}\nsynth_00004\n")
    split = load_split(data, "train_aug")
    assert split.samples[0].label.parent.name == "SegmentationClassAug"
    assert split.samples[1].label.parent.name == "SegmentationClass"  # not in Aug: the VOC label


def test_own_dataset_without_classes_txt_uses_voc_classes(tiny_dataset, tmp_path):
    data = tmp_path / "mine"
    shutil.copytree(tiny_dataset / "VOCdevkit" / "VOC2012", data)
    (data / "classes.txt").unlink()
    assert load_split(data, "val").num_classes == 21


def _broken_copy(tiny_dataset: Path, tmp_path: Path) -> Path:
    data = tmp_path / "broken"
    shutil.copytree(tiny_dataset / "VOCdevkit" / "VOC2012", data)
    return data


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("missing_image", "image not found: "),
        ("missing_label", "label not found: "),
        ("corrupt_image", "cannot read image "),
        ("size_mismatch", "they must be the same size"),
        ("label_out_of_range", "has values 9 but the dataset has 4 classes"),
        ("empty_split", "split 'val' is empty"),
    ],
)
def test_data_check_reports_each_problem(run_edgeseg, tiny_dataset, tmp_path, breakage, message):
    data = _broken_copy(tiny_dataset, tmp_path)
    victim = (data / "ImageSets/Segmentation/train.txt").read_text().split()[0]
    image, label = data / "JPEGImages" / f"{victim}.jpg", data / "SegmentationClass" / f"{victim}.png"
    if breakage == "missing_image":
        image.unlink()
    elif breakage == "missing_label":
        label.unlink()
    elif breakage == "corrupt_image":
        image.write_bytes(b"\xff\xd8 this is not a jpeg")
    elif breakage == "size_mismatch":
        write_label_png(label, np.zeros((7, 9), np.uint8))
    elif breakage == "label_out_of_range":
        write_label_png(label, np.full(Image.open(label).size[::-1], 9, np.uint8))
    elif breakage == "empty_split":
        (data / "ImageSets/Segmentation/val.txt").write_text("\n")
    result = run_edgeseg("data", "check", data)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "1 problem(s) found" in result.stderr


def test_data_check_passes_a_good_dataset(run_edgeseg, tiny_dataset):
    result = run_edgeseg("data", "check", tiny_dataset)
    assert result.returncode == 0, result.stderr
    assert "dataset OK" in result.stdout
    assert "background" in result.stdout and "trainval" in result.stdout


def test_data_check_on_a_folder_that_is_not_a_dataset(run_edgeseg, tmp_path):
    result = run_edgeseg("data", "check", tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "not a VOC-format dataset" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("cue", ["shape", "outline"])
def test_cue_changes_colours_not_labels(run_edgeseg, tmp_path, cue):
    from edgeseg.data.synth import synth_dataset

    coloured = synth_dataset(tmp_path / "c", images=4, size=40, seed=3)
    result = run_edgeseg("data", "synth", tmp_path / cue, "--images", "4", "--size", "40", "--seed", "3", "--cue", cue)
    assert result.returncode == 0, result.stderr
    other = tmp_path / cue / "VOCdevkit" / "VOC2012"
    name = "synth_00002"
    labels = [np.asarray(Image.open(root / "SegmentationClass" / f"{name}.png")) for root in (coloured, other)]
    assert np.array_equal(*labels)
    images = [cv2.imread(str(root / "JPEGImages" / f"{name}.jpg")) for root in (coloured, other)]
    assert np.abs(images[0].astype(int) - images[1].astype(int)).mean() > 1


def test_synth_rejects_an_unknown_cue(run_edgeseg, tmp_path):
    result = run_edgeseg("data", "synth", tmp_path, "--cue", "texture")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --cue must be one of colour, shape, outline, got 'texture'"


def test_colour_cue_draws_what_it_always_drew():
    """The quickstart's numbers and committed results depend on the default data: adding cues left its random
    stream as it was. Labels of three images drawn in a row, digested with the generator from before cues
    existed: one draw more or less per shape would move every later shape."""
    import hashlib

    from edgeseg.data.synth import synth_image

    rng, digest = np.random.default_rng(7), hashlib.sha256()
    for _ in range(3):
        digest.update(synth_image(rng, 48, 64, 4)[1].tobytes())
    assert digest.hexdigest() == "59243153f26e0380c58707e12b9da93c338b74b6b3296bd20d1ecd48de6c056c"
