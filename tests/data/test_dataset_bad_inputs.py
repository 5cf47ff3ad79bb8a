"""Datasets that would train on the wrong thing, and `data synth` onto a user's folder (issue 14, kinds 7 and 8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bad_input import assert_refused, snapshot


def _copy(tiny_dataset: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "VOCdevkit" / "VOC2012", data)
    return data


def _first_train_id(data: Path) -> str:
    return (data / "ImageSets/Segmentation/train.txt").read_text().split()[0]


def _truncate_jpeg(data: Path) -> str:
    image = data / "JPEGImages" / f"{_first_train_id(data)}.jpg"
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])  # decodes, gray-filled, without an error
    return f"cannot read image {image}: it is truncated"


def _duplicate_class(data: Path) -> str:
    (data / "classes.txt").write_text("background\ncircle\ncircle\ntriangle\n")
    return "names 'circle' more than once"


def _id_with_a_space(data: Path) -> str:
    victim = _first_train_id(data)
    for folder, suffix in (("JPEGImages", ".jpg"), ("SegmentationClass", ".png")):
        (data / folder / f"{victim}{suffix}").rename(data / folder / f"my {victim}{suffix}")
    lists = data / "ImageSets/Segmentation/train.txt"
    lists.write_text(lists.read_text().replace(victim, f"my {victim}", 1))
    return f"line 1 of {lists} ('my {victim}') was split at a space into the id 'my'"


def _no_val_list(data: Path) -> str:
    (data / "ImageSets/Segmentation/val.txt").unlink()
    return "split 'val' not found: no "


@pytest.mark.parametrize(
    "breakage", [_truncate_jpeg, _duplicate_class, _id_with_a_space, _no_val_list], ids=lambda f: f.__name__[1:]
)
def test_data_check_fails_what_train_would_fail_or_learn_wrong(run_edgeseg, tiny_dataset, tmp_path, breakage):
    data = _copy(tiny_dataset, tmp_path)
    message = breakage(data)
    before = snapshot(tmp_path)
    result = run_edgeseg("data", "check", data)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in result.stderr and "dataset OK" not in result.stdout
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("breakage", [_truncate_jpeg, _duplicate_class, _id_with_a_space, _no_val_list])
def test_train_refuses_the_same_datasets(run_edgeseg, tiny_dataset, tmp_path, breakage):
    data = _copy(tiny_dataset, tmp_path)
    message = breakage(data)
    args = ("--model", "deeplabv3plus_mobilenetv2", "--size", "32", "--batch-size", "4", "--workers", "0")
    result = run_edgeseg("train", *args, "--epochs", "1", "--data", data, "--project", tmp_path / "runs")
    # The split's ids and classes are read before training starts; a truncated image when it is loaded.
    assert_refused(result, message.split(": it is")[0])
    assert not (tmp_path / "runs" / "deeplabv3plus_mobilenetv2" / "weights" / "best.pt").exists()


def test_images_in_both_train_and_val_are_a_warning(run_edgeseg, tiny_dataset, tmp_path):
    data = _copy(tiny_dataset, tmp_path)
    val = data / "ImageSets/Segmentation/val.txt"
    val.write_text(val.read_text() + _first_train_id(data) + "\n")
    result = run_edgeseg("data", "check", data)
    assert result.returncode == 0, result.stderr
    assert "warning: 1 image(s) are in both train and val" in result.stderr and "dataset OK" in result.stdout


def test_synth_refuses_a_folder_with_a_dataset_in_it(run_edgeseg, tiny_dataset, tmp_path):
    data = tmp_path / "mine"
    shutil.copytree(tiny_dataset, data)
    before = snapshot(data)
    result = run_edgeseg("data", "synth", data, "--images", "4", "--size", "32")
    assert_refused(result, f"{data} is not empty: data synth would replace its split lists", before, data)
    assert "--force" in run_edgeseg("data", "synth", "--help").stdout


def test_synth_force_writes_into_a_non_empty_folder(run_edgeseg, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = run_edgeseg("data", "synth", tmp_path, "--images", "4", "--size", "32", "--force")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert len(list((tmp_path / "VOCdevkit/VOC2012/JPEGImages").glob("*.jpg"))) == 4
