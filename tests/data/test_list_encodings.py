"""Split lists and classes.txt as Windows tools write them: a byte-order mark, CRLF line ends, UTF-16 (Excel)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.bad_input import assert_refused, snapshot

TEXT_FILES = ("ImageSets/Segmentation/train.txt", "ImageSets/Segmentation/val.txt", "classes.txt")


def _rewrite(data: Path, encoding: str) -> None:
    """Every list and classes.txt re-saved with CRLF line ends in `encoding` (utf-8-sig and utf-16 add a BOM)."""
    for relative in TEXT_FILES:
        path = data / relative
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))


def _copy(tiny_dataset: Path, tmp_path: Path, encoding: str) -> Path:
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "VOCdevkit" / "VOC2012", data)
    _rewrite(data, encoding)
    assert (data / "classes.txt").read_bytes()[:2] in (b"\xef\xbb", b"\xff\xfe")
    return data


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_data_check_reads_lists_with_a_bom_and_crlf(run_edgeseg, tiny_dataset, tmp_path, encoding):
    data = _copy(tiny_dataset, tmp_path, encoding)
    result = run_edgeseg("data", "check", data)
    assert result.returncode == 0, result.stderr
    assert "dataset OK" in result.stdout and "image not found" not in result.stderr
    assert "\ufeff" not in result.stdout + result.stderr and "\r" not in result.stdout
    assert "│ 0 │ background │" in result.stdout.replace("  ", " ").replace("  ", " ")


def test_train_reads_lists_and_classes_with_a_bom_and_crlf(run_edgeseg, tiny_dataset, tmp_path):
    data = _copy(tiny_dataset, tmp_path, "utf-8-sig")
    args = ("--model", "deeplabv3plus_mobilenetv2", "--size", "32", "--batch-size", "4", "--workers", "0")
    result = run_edgeseg("train", *args, "--epochs", "1", "--data", data, "--project", tmp_path / "runs", "--name", "r")
    assert result.returncode == 0, result.stderr
    checkpoint = torch.load(tmp_path / "runs" / "r" / "weights" / "best.pt", map_location="cpu", weights_only=True)
    names = checkpoint["metadata"]["class_names"]
    assert list(names) == ["background", "circle", "rectangle", "triangle"], names


def test_a_list_that_is_not_utf8_is_one_line(run_edgeseg, tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "VOCdevkit" / "VOC2012", data)
    (data / "classes.txt").write_bytes("background\ncircle\nrectangle\ntriangle café\n".encode("cp1252"))
    before = snapshot(tmp_path)
    result = run_edgeseg("data", "check", data)
    assert_refused(result, f"{data / 'classes.txt'} is not UTF-8 text", before, tmp_path)
