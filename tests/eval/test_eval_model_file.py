"""`edgeseg eval` on exported files: the same metrics as the checkpoint they came from, through the runtime's own
pre- and post-processing, on ONNX Runtime and on OpenVINO (the real libraries)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from edgeseg.data.voc import load_split, read_label


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


def test_an_engine_is_evaluated_through_the_tensorrt_backend(tiny_dataset, tmp_path):
    """The .engine path: TensorRTBackend on the FakeTensorRT / FakeCuda doubles (no TensorRT or GPU here)."""
    from edgeseg.eval.model_file import evaluate_backend
    from edgeseg.runtime.backends.tensorrt import TensorRTBackend
    from tests.export.fake_tensorrt import FakeCuda, FakeTensorRT

    engine = tmp_path / "model.engine"
    engine.write_bytes(b"serialized")
    names = ["background", "circle", "rectangle", "triangle"]
    metadata = {"model": "fake", "model_config": {}, "class_names": names, "palette": [[0, 0, 0]] * 4}
    metadata |= {"input_size": [8, 8], "mean": [0.5] * 3, "std": [0.5] * 3, "resize": "letterbox"}
    metadata["upsample"] = "bilinear"  # a mode metadata may name (checked when the sidecar is read)
    metadata["output"] = "classes"  # the double's engine returns an int32 class map (of its two classes)
    sidecar = {**metadata, "tensorrt": "10.3.0", "gpu": "Fake Orin", "compute_capability": "8.7"}
    engine.with_name("model.engine.json").write_text(json.dumps(sidecar))
    cuda = FakeCuda()
    trt = FakeTensorRT("10.3.0", cuda=cuda, output="classes")
    with TensorRTBackend(engine, trt=trt, cuda=cuda, log=lambda m: None) as backend:
        result = evaluate_backend(backend, engine, tiny_dataset, subset=3)
    assert result.info["images"] == 3 and result.info["backend"] == {"backend": "TensorRTBackend"}
    assert result.title == "model.engine (fake, TensorRT) on val, 3 images"
    labelled = sum(int((read_label(s.label, 4) < 4).sum()) for s in load_split(tiny_dataset, "val").samples[:3])
    assert result.metrics.confusion.sum() == labelled  # every labelled pixel of each image, at full resolution
