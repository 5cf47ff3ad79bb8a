"""Real TensorRT on a real GPU: a Jetson or a CUDA desktop. Skipped elsewhere (CI and dev machines have neither).

On the device, with the export extra and JetPack's TensorRT installed:  python -m pytest -m tensorrt
No PyTorch needed: the model is a small ONNX graph built with onnx.helper (tests/export/tiny_onnx.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed here (it needs an NVIDIA GPU)")
pytest.importorskip("onnx", reason="the tests build their ONNX model with onnx: pip install 'edgeseg[export]'")
pytestmark = pytest.mark.tensorrt

from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend  # noqa: E402
from edgeseg.runtime.backends.tensorrt import TensorRTBackend  # noqa: E402

from .tiny_onnx import SIZE, write_images, write_tiny_onnx  # noqa: E402


@pytest.fixture
def onnx_model(tmp_path):
    return write_tiny_onnx(tmp_path / "model.onnx")


def _inputs(batch: int = 1) -> np.ndarray:
    return np.random.default_rng(batch).standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)


@pytest.mark.parametrize(
    ("flags", "precision", "min_agreement"),
    [([], "fp32", 0.999), (["--fp16"], "fp16", 0.99), (["--int8", "--calib"], "int8", 0.9)],
    ids=["fp32", "fp16", "int8"],
)
def test_onnx_to_engine_matches_onnx_runtime(run_edgeseg, onnx_model, tmp_path, flags, precision, min_agreement):
    if "--calib" in flags:
        flags = [*flags, write_images(tmp_path / "calib", count=8)]
    result = run_edgeseg("export", onnx_model, "--engine", *flags)
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((tmp_path / "model.engine.json").read_text())
    assert sidecar["tensorrt"] == trt.__version__ and sidecar["precision"] == precision
    x = _inputs()
    with TensorRTBackend(tmp_path / "model.engine") as engine, OnnxRuntimeBackend(onnx_model, provider="cpu") as ort:
        got, want = engine.infer({"images": x})["logits"], ort.infer({"images": x})["logits"]
    assert got.shape == want.shape and np.isfinite(got).all()
    if precision == "fp32":
        np.testing.assert_allclose(got, want, atol=1e-3)
    assert (got.argmax(1) == want.argmax(1)).mean() >= min_agreement


def test_dynamic_batch_engine(run_edgeseg, tmp_path):
    model = write_tiny_onnx(tmp_path / "model.onnx", dynamic_batch=True)
    result = run_edgeseg("export", model, "--engine", "--dynamic-batch", "--max-batch", "4")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "model.engine.json").read_text())["dynamic_batch"] == [1, 2, 4]
    with TensorRTBackend(tmp_path / "model.engine") as engine:
        for batch in (1, 3, 4):
            assert engine.infer({"images": _inputs(batch)})["logits"].shape == (batch, 3, SIZE, SIZE)


def test_edgeseg_run_on_the_engine(run_edgeseg, onnx_model, tmp_path):
    assert run_edgeseg("export", onnx_model, "--engine").returncode == 0
    frames = write_images(tmp_path / "frames", count=3)
    result = run_edgeseg(
        "run", "--model", tmp_path / "model.engine", "--source", frames, "--no-show", "--save", tmp_path / "out",
        "--stats-json", tmp_path / "stats.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out" / "masks").glob("*.png"))) == 3
    assert json.loads((tmp_path / "stats.json").read_text())["backend"] == "TensorRTBackend"
