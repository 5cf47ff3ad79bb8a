"""edgeseg's CUDA layer (runtime/cuda.py) on the doubles of cuda-python, pycuda and libcuda (no GPU here): the
stream handle TensorRT gets, the discrete-GPU path with real copies, and which binding is used where."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeseg.runtime.backends.tensorrt import TensorRTBackend
from edgeseg.runtime.cuda import CudaPython

from ..export.fake_cuda import FakeCudart, install_fake_cuda_python
from ..export.fake_tensorrt import FakeTensorRT
from ..small_metadata import small_metadata


def _engine(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"serialized")
    sidecar = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", **small_metadata().to_dict()}
    (tmp_path / "model.engine.json").write_text(json.dumps(sidecar))
    return engine


@pytest.mark.parametrize(
    ("with_utils", "int_removed"),
    [(False, False), (True, False), (True, True)],
    ids=["cuda-python<12.9.1", "12.9.1+", "int()-removed"],
)
@pytest.mark.parametrize("integrated", [False, True], ids=["discrete", "integrated"])
def test_engine_runs_through_cuda_python(tmp_path, monkeypatch, with_utils, int_removed, integrated):
    # Issue 22, defect 3: int(cudaStream_t) is deprecated since cuda-bindings 12.9.1 / 13.0 "and subject to future
    # removal"; TensorRT needs the stream's address as an int: get_cuda_native_handle where it exists. The
    # discrete-GPU path (device memory, cudaMemcpyAsync both ways) runs through the cuda-python double here.
    cudart = FakeCudart(integrated=integrated, int_removed=int_removed)
    install_fake_cuda_python(monkeypatch, cudart, with_utils=with_utils)
    trt = FakeTensorRT("10.3.0", cuda=cudart)
    backend = TensorRTBackend(_engine(tmp_path), trt=trt, log=lambda m: None)
    assert isinstance(backend.cuda, CudaPython) and backend.zero_copy is integrated
    assert isinstance(backend.stream, int) and backend.stream in cudart.gpu.owner  # the handle, not its storage
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    with backend:
        np.testing.assert_array_equal(backend.infer({"images": x})["logits"][:, 1], 2 * x[:, 0])
    copies = [kind for kind, _ in cudart.copies]
    assert copies == ([] if integrated else [1, 2])  # host→device, device→host
    assert trt.executions == 1 and backend.stream not in cudart.gpu.owner  # the stream was destroyed
    assert not cudart.host and set(cudart.gpu.memory) == set()  # every buffer freed


def test_cuda_python_failures_are_cuda_errors(monkeypatch):
    from edgeseg.runtime.cuda import CudaError

    cudart = FakeCudart(integrated=False)
    install_fake_cuda_python(monkeypatch, cudart)
    cuda = CudaPython()
    stream = cuda.stream()
    cuda.synchronize(stream)
    cuda.release(stream)
    with pytest.raises(CudaError, match="cudaErrorInvalidResourceHandle"):
        cuda.synchronize(stream)  # a destroyed stream
    pointer = cuda.malloc(16)
    cuda.free(pointer)
    with pytest.raises(CudaError, match="cudaErrorInvalidValue"):
        cuda.free(pointer)  # freed twice


@pytest.fixture
def driver_cuda(monkeypatch):
    """Make libcuda report a driver for the CUDA version passed (12060: CUDA 12.6)."""
    from edgeseg.runtime import gpu

    from ..export.fake_cuda import FakeLibCuda

    def set_driver(version: int) -> None:
        monkeypatch.setattr(gpu, "load_libcuda", lambda: FakeLibCuda(driver=version))

    return set_driver


def test_cuda_python_of_a_newer_cuda_major_than_the_driver_falls_back_to_pycuda(monkeypatch, driver_cuda):
    # Issue 22, defect 2: cuda-bindings 13 links the CUDA 13 runtime; on a CUDA 12 driver (JetPack 6, most desktops)
    # its first call fails (cudaErrorInsufficientDriver). Installed is not the same as usable: use pycuda instead.
    from edgeseg.runtime.cuda import PyCuda, cuda_api

    from ..export.fake_cuda import FakePyCudaDriver, install_fake_pycuda

    driver_cuda(12060)
    install_fake_cuda_python(monkeypatch, FakeCudart(runtime=13000, driver=12060), pycuda_absent=False)
    install_fake_pycuda(monkeypatch, FakePyCudaDriver(), cuda_python_absent=False)
    notes: list[str] = []
    assert isinstance(cuda_api(log=notes.append), PyCuda)
    assert notes == [
        "note: cuda-python is built for CUDA 13.0, but this driver supports CUDA 12.6; using pycuda "
        "(pip install 'cuda-python==12.6.*' to use cuda-python)"
    ]


def test_cuda_python_of_a_newer_cuda_major_than_the_driver_is_refused_with_the_pip_line(monkeypatch, driver_cuda):
    from edgeseg.errors import EdgesegError
    from edgeseg.runtime.cuda import cuda_api

    driver_cuda(12060)
    install_fake_cuda_python(monkeypatch, FakeCudart(runtime=13000, driver=12060))
    built_for = r"cuda-python is built for CUDA 13\.0, but this driver supports CUDA 12\.6"
    with pytest.raises(EdgesegError, match=built_for) as e:
        cuda_api()
    assert str(e.value).endswith(": pip install 'cuda-python==12.6.*'")


@pytest.mark.parametrize(("runtime", "driver"), [(12090, 12020), (12060, 13000), (13000, 13000)])
def test_cuda_python_within_the_drivers_cuda_major_or_older_is_used(monkeypatch, driver_cuda, runtime, driver):
    # CUDA's minor-version compatibility: a 12.9 runtime runs on a 12.2 driver; a newer driver runs older runtimes.
    from edgeseg.runtime.cuda import cuda_api

    driver_cuda(driver)
    install_fake_cuda_python(monkeypatch, FakeCudart(runtime=runtime, driver=driver))
    assert isinstance(cuda_api(), CudaPython)


def test_without_a_driver_cuda_python_is_taken_and_fails_on_its_first_call(monkeypatch):
    from edgeseg.runtime import gpu
    from edgeseg.runtime.cuda import CudaError, cuda_api

    monkeypatch.setattr(gpu, "load_libcuda", lambda: None)
    install_fake_cuda_python(monkeypatch, FakeCudart(runtime=13000, driver=0))
    cuda = cuda_api()
    with pytest.raises(CudaError, match="cudaErrorInsufficientDriver"):
        cuda.device()
