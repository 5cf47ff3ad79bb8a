"""`edgeseg eval` on exported files: the same metrics as the checkpoint they came from, through the runtime's own
pre- and post-processing, on ONNX Runtime and on OpenVINO (the real libraries)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest


def _eval(run_edgeseg, model, data, out, *extra):
    done = run_edgeseg("eval", model, "--data", data, "--json", out, "--workers", "0", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done


def test_an_onnx_file_scores_what_its_checkpoint_scores(
    run_edgeseg, tiny_checkpoint, tiny_onnx, tiny_dataset, tmp_path
):
    checkpoint, _ = _eval(run_edgeseg, tiny_checkpoint, tiny_dataset, tmp_path / "pt.json")
    onnx, done = _eval(run_edgeseg, tiny_onnx, tiny_dataset, tmp_path / "onnx.json", "--provider", "cpu")
    assert "model.onnx" in done.stdout and "ONNX Runtime CPU" in done.stdout
    assert onnx["backend"]["provider"] == "CPUExecutionProvider" and onnx["images"] == checkpoint["images"]
    pt_confusion, onnx_confusion = np.array(checkpoint["confusion_matrix"]), np.array(onnx["confusion_matrix"])
    assert pt_confusion.sum() == onnx_confusion.sum()  # every labelled pixel, at full resolution
    # The same pixels land in the same cells but for a rounding-level few (FP32 ONNX vs PyTorch).
    assert np.abs(pt_confusion - onnx_confusion).sum() <= 0.002 * pt_confusion.sum()
    assert abs(onnx["mIoU"] - checkpoint["mIoU"]) < 0.005
    assert (tmp_path / "onnx.png").is_file()  # the per-class chart beside the JSON


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs the openvino extra")
def test_eval_on_openvino_with_a_precision_hint(run_edgeseg, tiny_onnx, tiny_dataset, tmp_path):
    ort, _ = _eval(run_edgeseg, tiny_onnx, tiny_dataset, tmp_path / "ort.json", "--provider", "cpu")
    ov, done = _eval(
        run_edgeseg, tiny_onnx, tiny_dataset, tmp_path / "ov.json", "--provider", "openvino", "--precision", "f32"
    )
    assert ov["backend"]["backend"] == "OpenVinoBackend" and ov["backend"]["precision_hint"] == "f32"
    assert "OpenVINO CPU f32" in done.stdout
    assert abs(ov["mIoU"] - ort["mIoU"]) < 0.005


def test_backend_options_are_for_model_files(run_edgeseg, tiny_checkpoint, tiny_dataset):
    done = run_edgeseg("eval", tiny_checkpoint, "--data", tiny_dataset, "--precision", "bf16", "--provider", "openvino")
    assert done.returncode == 1
    assert (
        done.stderr.strip() == "error: --precision is for an .onnx file; best.pt is evaluated with PyTorch (--device)"
    )
    done = run_edgeseg("eval", tiny_checkpoint, "--data", tiny_dataset, "--provider", "gpu")
    assert done.returncode == 1 and "error: --provider must be one of tensorrt, cuda, cpu" in done.stderr
