"""The TensorRT backend's buffer and binding logic against FakeTensorRT / FakeCuda (test doubles: no TensorRT or
GPU here); tests/export/test_real_tensorrt.py runs the real one where TensorRT exists (pytest -m tensorrt)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.tensorrt import TensorRTBackend
from edgeseg.runtime.engine_sidecar import EngineMismatch

from ..export.fake_tensorrt import FakeCuda, FakeTensorRT
from ..small_metadata import small_metadata

# What FakeEngine runs: 8×8 images → 2 classes.
FAKE_METADATA = small_metadata()


def _engine(tmp_path, tensorrt="10.3.0", capability="8.7"):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"serialized")
    sidecar = {
        "tensorrt": tensorrt,
        "gpu": "Fake Orin",
        "compute_capability": capability,
        "onnx": "model.onnx",
        **FAKE_METADATA.to_dict(),
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
    assert backend.max_batch == (4 if dynamic else 1)  # what several streams may batch: the profile's maximum
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
    with backend, pytest.raises(EdgesegError, match=r"this engine takes \(1, 3, 8, 8\)"):
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


# --- The defects of issue 13, each a test that failed before its fix. ---


@pytest.mark.parametrize("integrated", [False, True], ids=["copies", "mapped"])
def test_pycuda_backend_runs_in_another_thread(tmp_path, monkeypatch, integrated):
    # Issue 13, defect 1: made in the main thread (where pycuda.autoinit's context is current), run in the
    # pipeline's inference thread, where no context is current unless the backend pushes one.
    # Issue 22, defect 1: deserialize_cuda_engine, create_execution_context and execute_async_v3 must run under
    # the context that owns the buffers and the stream (the primary one), not under autoinit's, which is current
    # in the main thread: FakeTensorRT binds each object to the context current when it was made.
    import threading

    from ..export.fake_cuda import FakePyCudaDriver, install_fake_pycuda

    driver = FakePyCudaDriver(integrated=integrated)
    install_fake_pycuda(monkeypatch, driver)
    assert driver.gpu.current() is sys.modules["pycuda.autoinit"].context.token  # autoinit's, not the primary
    trt = FakeTensorRT("10.3.0", cuda=driver)
    backend = TensorRTBackend(_engine(tmp_path), trt=trt, log=lambda m: None)
    assert backend.cuda.name == "pycuda" and backend.zero_copy is integrated
    assert backend.engine.owner is backend.context.owner is driver.gpu.primary
    assert {driver.gpu.owner[pointer] for pointer in backend.device.values()} == {driver.gpu.primary}
    assert driver.gpu.current() is sys.modules["pycuda.autoinit"].context.token  # the main thread's stack restored
    results, errors = [], []

    def work():
        try:
            results.append(backend.infer({"images": np.ones((1, 3, 8, 8), np.float32)})["logits"])
            backend.close()
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    np.testing.assert_array_equal(results[0][:, 1], 2.0)


def test_engine_built_for_a_dla_core_is_loaded_on_it(tmp_path):
    # Defect 3: the sidecar's dla_core must reach runtime.DLA_core before deserializing.
    engine = _engine(tmp_path)
    sidecar = json.loads((tmp_path / "model.engine.json").read_text())
    (tmp_path / "model.engine.json").write_text(json.dumps({**sidecar, "dla_core": 1}))
    cuda = FakeCuda()
    trt = FakeTensorRT("10.3.0", cuda=cuda, dla_cores=2)
    TensorRTBackend(engine, trt=trt, cuda=cuda, log=lambda m: None).close()
    assert trt.deserialized_on_dla_core == 1
    with pytest.raises(EdgesegError, match=r"DLA core 1.*has 0 DLA cores"):
        TensorRTBackend(engine, trt=FakeTensorRT("10.3.0", cuda=cuda), cuda=cuda, log=lambda m: None)


def test_every_dimension_is_checked_against_the_profile(tmp_path):
    # Defect 7: a shape inside the maximum but outside the profile in another dimension.
    cuda = FakeCuda()
    backend = TensorRTBackend(_engine(tmp_path), trt=FakeTensorRT(cuda=cuda, dynamic=True), cuda=cuda)
    with backend:
        backend.infer({"images": np.ones((2, 3, 8, 8), np.float32)})
        with pytest.raises(EdgesegError, match=r"images is \(1, 3, 4, 8\).*\(1, 3, 8, 8\) to \(4, 3, 8, 8\)"):
            backend.infer({"images": np.ones((1, 3, 4, 8), np.float32)})


def test_set_input_shape_refusal_is_an_error(tmp_path):
    # Defect 7: TensorRT's set_input_shape returns False rather than raising; its result must be checked.
    cuda = FakeCuda()
    backend = TensorRTBackend(_engine(tmp_path), trt=FakeTensorRT(cuda=cuda, dynamic=True), cuda=cuda)
    backend.context.set_input_shape = lambda name, shape: False
    with backend, pytest.raises(EdgesegError, match="refused the input shape"):
        backend.infer({"images": np.ones((2, 3, 8, 8), np.float32)})


@pytest.mark.parametrize("integrated", [False, True], ids=["discrete", "integrated"])
def test_integrated_gpu_uses_mapped_memory_without_copies(tmp_path, integrated):
    cuda = FakeCuda(integrated=integrated)
    with TensorRTBackend(_engine(tmp_path), trt=FakeTensorRT(cuda=cuda), cuda=cuda, log=lambda m: None) as backend:
        x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
        np.testing.assert_array_equal(backend.infer({"images": x})["logits"][:, 1], 2 * x[:, 0])
        assert backend.zero_copy is integrated
        if integrated:  # the engine reads and writes the mapped host buffers themselves
            assert cuda.copies == [] and cuda.allocated == {}
            assert set(backend.context.addresses.values()) == set(cuda.mapped)
        else:
            assert len(cuda.copies) == 1 and cuda.mapped == {}
    assert cuda.released and cuda.pinned == [] and cuda.mapped == {}


def test_cuda_python_maps_pinned_memory_on_an_integrated_gpu(monkeypatch):
    # At the cuda-python boundary: cudaHostAlloc(…, cudaHostAllocMapped), then cudaHostGetDevicePointer(host, 0).
    import sys

    from edgeseg.runtime.cuda import CudaPython

    from ..export.fake_cuda import FakeCudart

    cudart = FakeCudart(integrated=True)
    monkeypatch.setitem(sys.modules, "cuda", type(sys)("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    monkeypatch.setitem(sys.modules, "cuda.bindings", type(sys)("cuda.bindings"))
    sys.modules["cuda.bindings"].runtime = cudart
    cuda = CudaPython()
    assert cuda.integrated and cuda.device() == ("Orin", "8.7")
    array, device = cuda.mapped_empty((2, 3), np.float32)
    array[...] = 5.0
    assert array.shape == (2, 3) and device in cudart.mapped and array.ctypes.data == device
    pinned = cuda.pinned_empty((4,), np.float32)  # the discrete-GPU staging buffer: pinned, not mapped
    assert pinned.ctypes.data in cudart.host and pinned.ctypes.data not in cudart.mapped
    cuda.release()
    assert cudart.freed == [device, pinned.ctypes.data]


# --- The defects of issue 22, each a test that failed before its fix. ---


class _MisalignedCuda(FakeCuda):
    """An allocator whose addresses are 4 bytes off the 256-byte alignment TensorRT requires of tensor addresses."""

    def malloc(self, nbytes):
        pointer = super().malloc(nbytes + 4) + 4
        self.allocated[pointer] = nbytes
        self.gpu.memory[pointer], self.gpu.owner[pointer] = self.gpu.memory[pointer - 4], self.gpu.owner[pointer - 4]
        return pointer


def test_a_refused_tensor_address_is_an_error_naming_the_tensor(tmp_path):
    # Defect 5: set_tensor_address returns False (it does not raise) for an address or a name it refuses; ignored,
    # the engine would run on whatever address the tensor had before.
    cuda = _MisalignedCuda()
    with pytest.raises(EdgesegError, match=r"TensorRT refused the address 0x[0-9a-f]+ for tensor images"):
        TensorRTBackend(_engine(tmp_path), trt=FakeTensorRT(cuda=cuda), cuda=cuda, log=lambda m: None)
    assert cuda.freed and cuda.released  # what it had allocated is freed again


@pytest.mark.parametrize(
    ("output", "dtype"),
    [("classes", "INT32"), ("logits", "HALF"), ("logits", "FLOAT")],
    ids=["classes", "fp16", "fp32"],
)
@pytest.mark.parametrize("integrated", [False, True], ids=["discrete", "integrated"])
def test_class_map_and_fp16_outputs(tmp_path, output, dtype, integrated):
    # edgeseg's default export puts the argmax in the graph: an N×H×W int32 class map; an FP16 engine may output
    # half-precision logits. The buffers follow the engine's types; results come back as int32 or float32.
    cuda = FakeCuda(integrated=integrated)
    trt = FakeTensorRT(cuda=cuda, dynamic=True, output=output, output_dtype=dtype)
    x = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
    with TensorRTBackend(_engine(tmp_path), trt=trt, cuda=cuda, log=lambda m: None) as backend:
        assert backend.output_names == [output] and backend.dtypes[output] == trt.nptype(dtype)
        result = backend.infer({"images": x})[output]
    if output == "classes":
        assert result.dtype == np.int32 and result.shape == (3, 8, 8)
        np.testing.assert_array_equal(result, (x[:, 0] > 0).astype(np.int32))
    else:
        assert result.dtype == np.float32 and result.shape == (3, 2, 8, 8)
        np.testing.assert_array_equal(result[:, 1], (2 * x[:, 0]).astype(trt.nptype(dtype)))


def test_an_output_type_numpy_lacks_is_refused_clearly(tmp_path):
    cuda = FakeCuda()
    trt = FakeTensorRT(cuda=cuda, output_dtype="BF16")  # tensorrt.nptype raises TypeError for it
    with pytest.raises(EdgesegError, match=r"tensor logits is BF16, which numpy has no type for"):
        TensorRTBackend(_engine(tmp_path), trt=trt, cuda=cuda, log=lambda m: None)
