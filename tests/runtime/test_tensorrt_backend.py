"""The TensorRT backend's buffer and binding logic against FakeTensorRT / FakeCuda (test doubles: no TensorRT or
GPU here); a real-TensorRT test runs where TensorRT exists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.tensorrt import TensorRTBackend
from edgeseg.runtime.engine_sidecar import EngineMismatch

from ..export.fake_tensorrt import FakeCuda, FakeTensorRT


def _engine(tmp_path, tensorrt="10.3.0", capability="8.7"):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"serialized")
    sidecar = {
        "tensorrt": tensorrt,
        "gpu": "Fake Orin",
        "compute_capability": capability,
        "onnx": "model.onnx",
        "class_names": ["a", "b"],
        "input_size": [8, 8],
    }
    (tmp_path / "model.engine.json").write_text(json.dumps(sidecar))
    return engine


@pytest.mark.parametrize("dynamic", [False, True])
def test_named_tensors_buffers_and_results(tmp_path, dynamic):
    cuda = FakeCuda()
    trt = FakeTensorRT("10.3.0", cuda=cuda, dynamic=dynamic)
    backend = TensorRTBackend(_engine(tmp_path), trt=trt, cuda=cuda, log=lambda m: None)
    assert backend.input_names == ["images"] and backend.output_names == ["logits"]
    assert backend.max_shapes["images"] == ((4, 3, 8, 8) if dynamic else (1, 3, 8, 8))
    assert set(backend.context.addresses) == {"images", "logits"}  # every tensor bound to its device buffer
    batches = [1, 3, 2] if dynamic else [1, 1]
    for batch in batches:
        x = np.random.default_rng(batch).standard_normal((batch, 3, 8, 8)).astype(np.float32)
        out = backend.infer({"images": x})["logits"]
        assert out.shape == (batch, 2, 8, 8)
        np.testing.assert_array_equal(out[:, 1], 2 * x[:, 0])
    first = backend.infer({"images": np.ones((1, 3, 8, 8), np.float32)})["logits"]
    backend.infer({"images": np.zeros((1, 3, 8, 8), np.float32)})
    assert first.max() == 2.0  # results are copies: the next call does not overwrite them
    backend.close()
    assert sorted(cuda.freed) == sorted(cuda.allocated) and cuda.released


def test_input_larger_than_the_engine_is_refused(tmp_path):
    cuda = FakeCuda()
    backend = TensorRTBackend(_engine(tmp_path), trt=FakeTensorRT(cuda=cuda), cuda=cuda, log=lambda m: None)
    with backend, pytest.raises(EdgesegError, match=r"this engine takes at most \(1, 3, 8, 8\)"):
        backend.infer({"images": np.zeros((2, 3, 8, 8), np.float32)})


def test_engine_for_another_tensorrt_or_gpu_is_refused_before_loading(tmp_path):
    cuda = FakeCuda(capability="8.7")
    with pytest.raises(EngineMismatch, match=r"built for TensorRT 8\.6\.1.*edgeseg export model\.onnx"):
        TensorRTBackend(_engine(tmp_path, tensorrt="8.6.1"), trt=FakeTensorRT("10.3.0", cuda=cuda), cuda=cuda)
    with pytest.raises(EngineMismatch, match=r"compute 7\.2"):
        TensorRTBackend(_engine(tmp_path, capability="7.2"), trt=FakeTensorRT("10.3.0", cuda=cuda), cuda=cuda)


def test_engine_that_does_not_deserialize(tmp_path):
    cuda = FakeCuda()
    with pytest.raises(EdgesegError, match="TensorRT could not load"):
        TensorRTBackend(_engine(tmp_path), trt=FakeTensorRT(cuda=cuda, engine_loads=False), cuda=cuda)


def test_real_tensorrt_backend_matches_onnx_runtime(tiny_checkpoint, run_edgeseg, tmp_path):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed here (CI and dev machines have no GPU)")
    from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend

    assert run_edgeseg("export", tiny_checkpoint, "--engine", "--out", tmp_path).returncode == 0
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with TensorRTBackend(tmp_path / "model.engine") as trt_backend, OnnxRuntimeBackend(tmp_path / "model.onnx") as ort:
        np.testing.assert_allclose(
            trt_backend.infer({"images": x})["logits"], ort.infer({"images": x})["logits"], atol=1e-3
        )


test_real_tensorrt_backend_matches_onnx_runtime = pytest.mark.tensorrt(test_real_tensorrt_backend_matches_onnx_runtime)
