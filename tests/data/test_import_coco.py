"""`edgeseg data import --format coco`, against pycocotools and the synthetic dataset's own labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.bad_input import assert_refused, snapshot
from tests.data.import_sources import coco_rle_from_voc, imported, jpeg, label_of, split_ids, voc


def test_synth_to_coco_and_back_gives_the_same_masks(run_edgeseg, tiny_dataset, tmp_path):
    root = voc(tiny_dataset)
    coco_rle_from_voc(root, tmp_path / "instances.json")
    before = snapshot(tiny_dataset, tmp_path)
    out = tmp_path / "out"
    args = ("--format", "coco", "--out", out, "--images", root / "JPEGImages", "--workers", "1")
    result = run_edgeseg("data", "import", tmp_path / "instances.json", *args)
    assert result.returncode == 0, result.stderr
    assert "dataset OK" in result.stdout and "images with no labelled pixel: 0" in result.stdout
    labels = imported(out)
    assert len(labels) == 24
    for image_id, label in labels.items():
        np.testing.assert_array_equal(label, label_of(root / "SegmentationClass" / f"{image_id}.png"))
        # an image that needs no turning is copied byte for byte
        assert (out / "JPEGImages" / f"{image_id}.jpg").read_bytes() == (
            root / "JPEGImages" / f"{image_id}.jpg"
        ).read_bytes()
    assert (out / "classes.txt").read_text().split() == (root / "classes.txt").read_text().split()
    assert len(split_ids(out, "val")) == round(24 * 0.2) and len(split_ids(out, "train")) == 24 - 5
    assert "24 × crowd regions painted 255" in result.stdout
    record = json.loads((out / "import.json").read_text())
    assert record["images"] == {"train": 19, "val": 5} and record["skipped"] == {}
    after = snapshot(tiny_dataset, tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith(str(out))} == before  # SOURCE untouched


def _polygon_dataset(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict]:
    """Images of 320×240 with 3–6 random polygons of 3–23 corners each (some overlapping, some crossing the
    border), as an annotator draws them around objects."""
    from pycocotools import mask as coco_mask

    images, annotations = [], []
    for number in range(6):
        height, width = 240, 320
        jpeg(tmp_path / "images" / f"img{number}.jpg", rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
        images.append({"id": number, "file_name": f"img{number}.jpg", "width": width, "height": height})
        for _ in range(rng.integers(3, 7)):
            corners = int(rng.integers(3, 24))
            angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
            radius = rng.uniform(15, 70) * rng.uniform(0.75, 1.15, corners)
            cx, cy = rng.uniform(-10, width + 10), rng.uniform(-10, height + 10)
            polygon = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1).ravel().tolist()
            rle = coco_mask.merge(coco_mask.frPyObjects([polygon], height, width))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": number,
                    "category_id": int(rng.integers(1, 4)) * 10,  # ids 10, 20, 30: not contiguous
                    "iscrowd": 0,
                    "segmentation": [polygon],
                    "area": float(coco_mask.area(rle)),
                    "bbox": [0, 0, 1, 1],
                }
            )
    categories = [{"id": 30, "name": "c"}, {"id": 10, "name": "a"}, {"id": 20, "name": "b"}]
    data = {"images": images, "annotations": annotations, "categories": categories}
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_default.json").write_text(json.dumps(data))
    return tmp_path / "annotations" / "instances_default.json", data


def test_polygons_match_pycocotools_pixel_by_pixel(run_edgeseg, tmp_path):
    from pycocotools.coco import COCO

    json_path, data = _polygon_dataset(tmp_path / "src", np.random.default_rng(3))
    out = tmp_path / "out"
    result = run_edgeseg("data", "import", tmp_path / "src", "--format", "coco", "--out", out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert (out / "classes.txt").read_text().split() == ["background", "a", "b", "c"]  # by category id
    reference = COCO(str(json_path))
    index = {10: 1, 20: 2, 30: 3}
    equal = total = 0
    for image in data["images"]:
        # The documented overlap rule, applied to pycocotools' own masks: largest area first, smaller on top.
        expected = np.zeros((image["height"], image["width"]), np.uint8)
        anns = sorted(reference.loadAnns(reference.getAnnIds(imgIds=image["id"])), key=lambda a: -a["area"])
        for ann in anns:
            expected[reference.annToMask(ann).astype(bool)] = index[ann["category_id"]]
        label = label_of(out / "SegmentationClass" / f"img{image['id']}.png")
        equal += int((label == expected).sum())
        total += label.size
    assert equal / total >= 0.999, f"{100 * equal / total:.3f}% of pixels equal pycocotools"


def _one_image(tmp_path: Path, annotations: list[dict], categories=None, size=(40, 30)) -> Path:
    """a.jpg with `annotations`, and b.jpg, the same again (a train and a val split need two images)."""
    images, anns = [], []
    for number, name in enumerate(("a", "b"), start=1):
        jpeg(tmp_path / "src" / f"{name}.jpg", np.full((size[1], size[0], 3), 128, np.uint8))
        images.append({"id": number, "file_name": f"{name}.jpg", "width": size[0], "height": size[1]})
        anns += [{"id": len(anns) + 1, "image_id": number, "iscrowd": 0, **a} for a in annotations]
    categories = categories or [{"id": 1, "name": "big"}, {"id": 2, "name": "small"}]
    path = tmp_path / "src" / "a.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
    return path


def _import_api(json_path: Path, out: Path, **options):
    from edgeseg.data.importers import import_dataset

    return import_dataset(json_path, "coco", out, val_share=None, **options)


def _square(x0, y0, x1, y1) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def test_overlap_crowd_box_and_unknown_category(tmp_path, monkeypatch):
    """Smaller on top of larger whatever the file order; crowd, box-only and unknown categories become 255."""
    from edgeseg.data.importers.coco import CocoSource

    path = _one_image(
        tmp_path,
        [
            {"category_id": 2, "segmentation": _square(10, 10, 20, 20)},  # small, listed first
            {"category_id": 1, "segmentation": _square(0, 0, 30, 30)},  # big, listed last
            {"category_id": 1, "iscrowd": 1, "segmentation": _square(30, 0, 40, 5)},
            {"category_id": 2, "segmentation": [], "bbox": [30, 20, 5, 5]},
            {"category_id": 9, "segmentation": _square(35, 10, 40, 15)},
        ],
    )
    source = CocoSource(path, val_share=0.5)
    converted = source.convert(source.items()[0])
    label = converted.label
    assert (label[10:20, 10:20] == 2).all() and label[5, 5] == 1 and label[25, 25] == 1
    assert (label[0:5, 30:40] == 0xFFFF).all()  # crowd
    assert (label[20:25, 30:35] == 0xFFFF).all()  # a box without a segmentation
    assert (label[10:15, 35:40] == 0xFFFF).all()  # category 9 is not in the categories
    assert converted.notes.counts == {"crowd": 1, "box only": 1}
    assert converted.problems.counts == {"unknown category": 1}
    assert "category id 9" in converted.problems.first["unknown category"]


def test_classes_choose_and_order_and_others(tmp_path):
    path = _one_image(
        tmp_path,
        [
            {"category_id": 1, "segmentation": _square(0, 0, 30, 30)},
            {"category_id": 2, "segmentation": _square(10, 10, 20, 20)},
        ],
    )
    summary = _import_api(path, tmp_path / "o1", classes=["small"])
    assert summary.class_names == ("background", "small")
    label = label_of(tmp_path / "o1" / "SegmentationClass" / "a.png")
    assert label[15, 15] == 1 and label[5, 5] == 0  # "big" merged into background

    summary = _import_api(path, tmp_path / "o2", classes=["small", "big"], others="ignore")
    assert summary.class_names == ("small", "big")
    label = label_of(tmp_path / "o2" / "SegmentationClass" / "a.png")
    assert label[15, 15] == 0 and label[5, 5] == 1 and label[5, 35] == 255  # background → 255
    assert (tmp_path / "o2" / "classes.txt").read_text() == "small\nbig\n"


def test_train_and_val_files_and_the_val_share_split(run_edgeseg, tiny_dataset, tmp_path):
    root, src = voc(tiny_dataset), tmp_path / "src"
    src.mkdir()
    train_ids = (root / "ImageSets/Segmentation/train.txt").read_text().split()
    val_ids = (root / "ImageSets/Segmentation/val.txt").read_text().split()
    coco_rle_from_voc(root, src / "train.json", train_ids)
    coco_rle_from_voc(root, src / "val.json", val_ids)
    common = ("--format", "coco", "--images", root / "JPEGImages", "--workers", "1")
    # --train given in full, --val relative to SOURCE
    files = ("--train", src / "train.json", "--val", "val.json")
    result = run_edgeseg("data", "import", src, *common, *files, "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    assert split_ids(tmp_path / "o", "train") == train_ids and split_ids(tmp_path / "o", "val") == val_ids

    splits = []
    for name, seed in (("s1", "1"), ("s2", "1"), ("s3", "2")):
        args = ("--out", tmp_path / name, "--val-share", "0.25", "--seed", seed)
        result = run_edgeseg("data", "import", src / "train.json", *common, *args)
        assert result.returncode == 0, result.stderr
        splits.append(sorted(split_ids(tmp_path / name, "val")))
    assert len(splits[0]) == round(len(train_ids) * 0.25)
    assert splits[0] == splits[1] != splits[2]  # the same seed, the same split


def test_problems_are_counted_and_strict_stops_at_the_first(run_edgeseg, tiny_dataset, tmp_path):
    root = voc(tiny_dataset)
    (tmp_path / "src").mkdir()
    data = coco_rle_from_voc(root, tmp_path / "src" / "all.json")
    data["images"].append({"id": 99, "file_name": "gone.jpg", "width": 10, "height": 10})  # missing image
    data["images"].append({**data["images"][0], "id": 98})  # the same file listed twice
    data["annotations"].append({"id": 999, "image_id": 3, "category_id": 1, "segmentation": [[1, 1, 5, 5]]})
    data["annotations"].append(
        {"id": 998, "image_id": 4, "category_id": 1, "segmentation": [[500, 500, 600, 500, 600, 600]]}
    )
    (tmp_path / "src" / "all.json").write_text(json.dumps(data))
    common = ("data", "import", tmp_path / "src" / "all.json", "--format", "coco", "--images", root / "JPEGImages")
    result = run_edgeseg(*common, "--out", tmp_path / "o", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert len(imported(tmp_path / "o")) == 24
    assert "warning: skipped 1 × image not found (first: gone.jpg" in result.stderr
    assert "warning: skipped 1 × image whose name another image already has (first: synth_00000.jpg" in result.stderr
    assert "warning: 1 × shape with fewer than 3 points" in result.stderr and "annotation 999" in result.stderr
    assert "warning: 1 × shape entirely outside its image" in result.stderr and "annotation 998" in result.stderr

    before = snapshot(tmp_path)
    result = run_edgeseg(*common, "--out", tmp_path / "strict", "--workers", "1", "--strict")
    assert_refused(result, "annotation 999: a polygon with fewer than 3 points (--strict", before, tmp_path)


def test_a_size_the_json_gets_wrong_is_an_error_naming_the_file(run_edgeseg, tmp_path):
    path = _one_image(tmp_path, [{"category_id": 1, "segmentation": _square(0, 0, 5, 5)}])
    data = json.loads(path.read_text())
    data["images"][0]["width"] = 41
    path.write_text(json.dumps(data))
    before = snapshot(tmp_path)
    result = run_edgeseg("data", "import", path, "--format", "coco", "--out", tmp_path / "o", "--val-share", "0.5")
    assert_refused(result, "a.jpg (in", before, tmp_path)
    assert "says the image is 41×30 but its image is 40×30" in result.stderr


@pytest.mark.parametrize("declared", ["displayed", "stored"])
def test_a_phone_photo_keeps_its_label_on_the_object(tmp_path, declared):
    """EXIF orientation 6 (turn 90° clockwise to show): the image is written upright, and the label lands on the
    same object whether the JSON gives the displayed or the stored size."""
    from edgeseg.data.voc import read_image

    stored = np.zeros((30, 40, 3), np.uint8)
    stored[0:10, 0:20] = 255  # a white block at the top-left of the stored pixels
    jpeg(tmp_path / "src" / "a.jpg", stored, orientation=6)
    # displayed (turned 90° clockwise) the block is at the top-right: rows 0–19, columns 20–29 of 30×40
    block = _square(20, 0, 30, 20) if declared == "displayed" else _square(0, 0, 20, 10)
    size = (30, 40) if declared == "displayed" else (40, 30)
    images = [{"id": i, "file_name": "a.jpg", "width": size[0], "height": size[1]} for i in (1, 2)]
    images[1]["file_name"] = "b.jpg"
    (tmp_path / "src" / "b.jpg").write_bytes((tmp_path / "src" / "a.jpg").read_bytes())
    anns = [{"id": i, "image_id": i, "category_id": 1, "iscrowd": 0, "segmentation": block} for i in (1, 2)]
    path = tmp_path / "src" / "a.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "block"}]}))
    _import_api(path, tmp_path / "out")
    image = read_image(tmp_path / "out" / "JPEGImages" / "a.jpg")  # how training reads it
    label = label_of(tmp_path / "out" / "SegmentationClass" / "a.png")
    assert image.shape[:2] == label.shape == (40, 30)
    white = image[..., 0] > 128
    assert (white == (label == 1)).mean() > 0.99  # the label covers the block, in the frame training reads
    from PIL import Image

    with Image.open(tmp_path / "out" / "JPEGImages" / "a.jpg") as written:
        assert written.getexif().get(0x0112, 1) == 1  # no orientation left for a reader to apply twice


def test_panoptic_png_and_segments_come_back_as_the_labels(run_edgeseg, tiny_dataset, tmp_path):
    """COCO panoptic made from the synthetic labels: one segment per class and image (background a stuff
    category), the 255 band a crowd segment, and a few void pixels (id 0), which must come back as 255."""
    from PIL import Image

    root = voc(tiny_dataset)
    names = (root / "classes.txt").read_text().split()
    annotations_dir = tmp_path / "annotations"
    (annotations_dir / "panoptic_val2017").mkdir(parents=True)
    images, annotations, expected = [], [], {}
    for number, image_id in enumerate(sorted(p.stem for p in (root / "JPEGImages").glob("*.jpg"))):
        label = label_of(root / "SegmentationClass" / f"{image_id}.png")
        segment_ids = np.zeros(label.shape, np.int64)
        segments = []
        for value in np.unique(label).tolist():
            segment_id = 1000 * (number + 1) + value  # above 255: the G channel is used too
            segment_ids[label == value] = segment_id
            crowd = value == 255
            segments.append({"id": segment_id, "category_id": 1 if crowd else 10 + value, "iscrowd": int(crowd)})
        segment_ids[0, :3] = 0  # void
        expected[image_id] = label.copy()
        expected[image_id][0, :3] = 255
        rgb = np.stack([segment_ids % 256, segment_ids // 256 % 256, segment_ids // 65536], -1).astype(np.uint8)
        Image.fromarray(rgb).save(annotations_dir / "panoptic_val2017" / f"{image_id}.png")
        images.append({"id": number, "file_name": f"{image_id}.jpg", "width": label.shape[1], "height": label.shape[0]})
        annotations.append({"image_id": number, "file_name": f"{image_id}.png", "segments_info": segments})
    categories = [{"id": 10 + k, "name": name, "isthing": int(k > 0)} for k, name in enumerate(names)]
    json_path = annotations_dir / "panoptic_val2017.json"
    json_path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    args = ("--format", "coco", "--images", root / "JPEGImages", "--out", tmp_path / "out", "--workers", "1")
    result = run_edgeseg("data", "import", json_path, *args)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "classes.txt").read_text().split() == names  # no extra background class
    labels = imported(tmp_path / "out")
    assert labels.keys() == expected.keys()
    for image_id, label in labels.items():
        np.testing.assert_array_equal(label, expected[image_id])
    assert "24 × crowd regions painted 255" in result.stdout


def test_the_summary_counts_images_with_no_labelled_pixel(run_edgeseg, tiny_dataset, tmp_path):
    root = voc(tiny_dataset)
    (tmp_path / "src").mkdir()
    data = coco_rle_from_voc(root, tmp_path / "src" / "a.json")
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] not in (2, 5)]
    (tmp_path / "src" / "a.json").write_text(json.dumps(data))
    args = ("--format", "coco", "--images", root / "JPEGImages", "--out", tmp_path / "out", "--workers", "1")
    result = run_edgeseg("data", "import", tmp_path / "src" / "a.json", *args)
    assert result.returncode == 0, result.stderr
    assert "images with no labelled pixel: 2 (synth_00002, synth_00005)" in result.stdout
    result = run_edgeseg("data", "check", tmp_path / "out")
    assert "images with no labelled pixel: 2 (synth_00002, synth_00005)" in result.stdout


def test_a_category_named_background_is_class_zero(tmp_path):
    path = _one_image(
        tmp_path,
        [
            {"category_id": 1, "segmentation": _square(0, 0, 30, 30)},
            {"category_id": 2, "segmentation": _square(10, 10, 20, 20)},
        ],
        categories=[{"id": 1, "name": "Background"}, {"id": 2, "name": "small"}],
    )
    summary = _import_api(path, tmp_path / "out")
    assert summary.class_names == ("background", "small")
    label = label_of(tmp_path / "out" / "SegmentationClass" / "a.png")
    assert label[5, 5] == 0 and label[15, 15] == 1 and label[5, 35] == 0
