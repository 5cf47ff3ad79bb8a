"""Cityscapes (against cityscapesscripts' own label table) and ADE20K imports, and one short training epoch on
what each of the five formats imports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.data.import_sources import (
    ade20k_tree,
    coco_rle_from_voc,
    cvat_from_voc,
    imported,
    jpeg,
    labelme_json,
    shape,
)


def _cityscapes_train_ids() -> np.ndarray:
    """labelId → trainId from cityscapesscripts' labels table (255 where it says 255 or -1)."""
    from cityscapesscripts.helpers.labels import labels

    table = np.full(256, 255, np.int64)
    for label in labels:
        if label.id >= 0:
            table[label.id] = 255 if label.trainId in (255, -1) else label.trainId
    return table


def test_cityscapes_train_ids_are_those_of_cityscapesscripts(run_edgeseg, tmp_path):
    from cityscapesscripts.helpers.labels import trainId2label

    from edgeseg.data.importers.cityscapes import TRAIN_CLASSES
    from tests.data.import_sources import cityscapes_tree

    label_ids = cityscapes_tree(tmp_path / "cityscapes", np.random.default_rng(2))
    result = run_edgeseg("data", "import", tmp_path / "cityscapes", "--format", "cityscapes", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    names = (tmp_path / "out" / "classes.txt").read_text().splitlines()
    assert names == [trainId2label[i].name for i in range(19)]
    assert [colour for _, _, colour in TRAIN_CLASSES] == [trainId2label[i].color for i in range(19)]
    table = _cityscapes_train_ids()
    labels = imported(tmp_path / "out")
    assert len(labels) == 8
    for stem, ids in label_ids.items():
        np.testing.assert_array_equal(labels[stem], table[ids])


def test_ade20k_values_shift_down_and_zero_is_ignored(run_edgeseg, tmp_path):
    values = ade20k_tree(tmp_path / "ade", np.random.default_rng(4))
    result = run_edgeseg("data", "import", tmp_path / "ade", "--format", "ade20k", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    names = (tmp_path / "out" / "classes.txt").read_text().splitlines()
    assert len(names) == 150 and names[:3] == ["wall", "building", "sky"] and names[-1] == "flag"
    for stem, value in values.items():
        label = imported(tmp_path / "out")[stem]
        np.testing.assert_array_equal(label, np.where(value == 0, 255, value.astype(np.int64) - 1))
    assert sorted((tmp_path / "out" / "ImageSets/Segmentation/val.txt").read_text().split())[0] == "ADE_val_00000001"


@pytest.fixture(scope="module")
def eight_images(tmp_path_factory):
    """An 8-image synthetic set at 32 px: enough for an epoch, small enough for five of them."""
    from edgeseg.data.synth import synth_dataset

    return synth_dataset(tmp_path_factory.mktemp("eight"), images=8, size=32, num_classes=3, seed=2)


def _source(fmt: str, root, tmp_path):
    """A source of each format (8 images each), and the extra arguments its import needs."""
    if fmt == "coco":
        coco_rle_from_voc(root, tmp_path / "coco.json")
        return tmp_path / "coco.json", ("--images", str(root / "JPEGImages"))
    if fmt == "masks":
        return cvat_from_voc(root, tmp_path / "cvat"), ()
    if fmt == "labelme":
        rng = np.random.default_rng(0)
        for number in range(8):
            image = jpeg(tmp_path / "lm" / f"{number}.jpg", rng.integers(0, 255, (32, 40, 3), dtype=np.uint8))
            shapes = [shape("box", "rectangle", [(4, 4), (20, 24)]), shape("disc", "circle", [(30, 16), (30, 22)])]
            labelme_json(tmp_path / "lm" / f"{number}.json", shapes, image=image)
        return tmp_path / "lm", ()
    if fmt == "cityscapes":
        from tests.data.import_sources import cityscapes_tree

        cityscapes_tree(tmp_path / "cs", np.random.default_rng(1))  # 4 train + 4 val
        return tmp_path / "cs", ()
    ade20k_tree(tmp_path / "ade", np.random.default_rng(1))
    return tmp_path / "ade", ()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["coco", "labelme", "masks", "cityscapes", "ade20k"])
def test_each_format_imports_and_trains_an_epoch(run_edgeseg, eight_images, tiny_trainer, tmp_path, fmt):
    source, extra = _source(fmt, eight_images, tmp_path)
    out = tmp_path / "data"
    result = run_edgeseg("data", "import", source, "--format", fmt, "--out", out, "--workers", "1", *extra)
    assert result.returncode == 0, result.stderr
    assert "dataset OK" in result.stdout
    best = tiny_trainer(out, tmp_path / "runs", epochs=1)
    metadata = torch.load(best, map_location="cpu", weights_only=True)["metadata"]
    assert metadata["class_names"] == (out / "classes.txt").read_text().splitlines()
