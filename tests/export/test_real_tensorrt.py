"""Real TensorRT: runs only where TensorRT and a GPU exist (a Jetson, a CUDA desktop); skipped on CI."""

from __future__ import annotations

import json

import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed here (CI and dev machines have no GPU)")
pytestmark = pytest.mark.tensorrt


@pytest.mark.parametrize("flags", [[], ["--fp16"]], ids=["fp32", "fp16"])
def test_export_builds_an_engine_with_sidecar(run_edgeseg, tiny_checkpoint, tmp_path, flags):
    result = run_edgeseg("export", tiny_checkpoint, "--engine", "--out", tmp_path, *flags)
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((tmp_path / "model.engine.json").read_text())
    assert sidecar["tensorrt"] == trt.__version__
    assert sidecar["precision"] == ("fp16" if flags else "fp32")
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine((tmp_path / "model.engine").read_bytes())
    assert engine is not None and engine.num_io_tensors == 2
