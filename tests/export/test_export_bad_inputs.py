"""`edgeseg export` refuses what it can check before writing anything (issue 14, kinds 5 and 12)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from edgeseg.data.synth import synth_dataset
from edgeseg.runtime.metadata import ONNX_KEY
from tests.bad_input import assert_refused, snapshot


@pytest.fixture(scope="module")
def logits_onnx(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny checkpoint exported with logits out: only then does the graph say how many classes it scores
    (a class map's shape does not)."""
    from edgeseg.export.steps import ExportOptions, run_export

    out = tmp_path_factory.mktemp("logits")
    run_export(ExportOptions(tiny_checkpoint, out=out, engine=False, output="logits"), log=lambda m: None)
    return out / "model.onnx"


@pytest.fixture(scope="module")
def three_class_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("three")
    synth_dataset(out, images=4, size=32, num_classes=3, seed=5)
    return out


def five_class_onnx(source: Path, target: Path) -> Path:
    """The exported model with two more class names in its metadata than its network outputs."""
    proto = onnx.load(str(source))
    for prop in proto.metadata_props:
        if prop.key == ONNX_KEY:
            meta = json.loads(prop.value)
            meta["class_names"] += ["extra", "more"]
            meta["palette"] += [[1, 2, 3], [4, 5, 6]]
            prop.value = json.dumps(meta)
    onnx.save(proto, str(target))
    return target


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--int8", "--calib", "{tmp}/missing"], "missing is not a folder of images or a VOC-format dataset"),
        (["--int8", "--calib", "{tmp}/empty"], "holds no images (.jpg, .png) and is not a VOC-format dataset"),
        (["--verify", "{tmp}/missing"], "missing not found: pass a VOC-format dataset"),
        (["--verify", "{three}"], "has 3 classes (background, circle, rectangle), the model 4"),
        (["--engine"], "TensorRT is not installed"),
    ],
    ids=["calib-missing", "calib-empty", "verify-missing", "verify-other-classes", "engine-without-tensorrt"],
)
@pytest.mark.parametrize("source", ["checkpoint", "onnx"])
def test_checked_before_model_onnx_is_written(
    run_edgeseg, tiny_checkpoint, tiny_onnx, three_class_data, tmp_path, args, message, source
):
    (tmp_path / "empty").mkdir()
    args = [a.format(tmp=tmp_path, three=three_class_data) for a in args]
    before = snapshot(tmp_path)
    path = tiny_checkpoint if source == "checkpoint" else tiny_onnx
    result = run_edgeseg("export", path, "--out", tmp_path / "out", *args)
    assert_refused(result, message, before, tmp_path)
    assert not (tmp_path / "out").exists()  # no model.onnx without a report, no empty folder


@pytest.mark.parametrize("command", ["export", "run"])
def test_onnx_listing_more_classes_than_it_outputs_is_refused(
    run_edgeseg, logits_onnx, tiny_dataset, tmp_path, command
):
    bad = five_class_onnx(logits_onnx, tmp_path / "model.onnx")
    image = next((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))
    before = snapshot(tmp_path)
    if command == "export":
        result = run_edgeseg("export", bad, "--out", tmp_path / "out", "--no-engine")
    else:
        result = run_edgeseg("run", "--model", bad, "--source", image, "--no-show", "--save", tmp_path / "out")
    assert_refused(result, "lists 6 classes in its metadata but its network outputs 4", before, tmp_path)
    assert not (tmp_path / "out").exists()


def test_a_failed_export_into_an_existing_folder_leaves_it_as_it_was(run_edgeseg, logits_onnx, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    bad = five_class_onnx(logits_onnx, tmp_path / "model.onnx")
    before = snapshot(tmp_path)
    assert_refused(run_edgeseg("export", bad, "--out", out, "--no-engine"), "lists 6 classes", before, tmp_path)


def test_int8_from_an_onnx_with_a_fixed_batch_above_one_is_refused(run_edgeseg, tmp_path):
    # Issue 22, defect 7 on the command line: ONNX Runtime's INT8 calibration and the parity checks feed one
    # image at a time, which a graph of fixed batch 2 refuses (it crashed inside ONNX Runtime).
    from tests.export.tiny_onnx import write_images, write_tiny_onnx

    model = write_tiny_onnx(tmp_path / "model.onnx", batch=2)
    calib = write_images(tmp_path / "calib", count=2)
    before = snapshot(tmp_path)
    result = run_edgeseg("export", model, "--int8", "--calib", calib, "--out", tmp_path / "out", "--no-engine")
    message = "model.onnx has a fixed batch of 2; INT8 calibrates on one image at a time"
    assert_refused(result, message, before, tmp_path)
    assert not (tmp_path / "out").exists()
