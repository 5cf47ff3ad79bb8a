"""Test doubles at the CUDA boundary: edgeseg's CUDA API (FakeCuda) and libcuda (FakeLibCuda).

No GPU here. The doubles of the libraries edgeseg's CUDA API wraps are beside this file: `pycuda.driver` in
fake_pycuda.py, cuda-python's `cuda.bindings.runtime` in fake_cudart.py; all of them, and the TensorRT double,
share one simulated GPU (fake_gpu.FakeGpu) whose memory and streams belong to CUDA contexts. Like the real
libraries they reject freeing twice, a destroyed stream, memory or a stream of another context, and (in
FakeCuda's copies) an array that is not contiguous: the real copy (cudaMemcpyAsync in CudaPython, pycuda's
memcpy_*_async) reads `nbytes` from the array's first byte, so a strided view would copy the wrong bytes.
libcuda's results come back through ctypes byref() arguments.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from .fake_cudart import FakeCudart, FakeCudaStream, install_fake_cuda_python
from .fake_gpu import FakeGpu
from .fake_pycuda import FakeLogicError, FakePyCudaDriver, install_fake_pycuda

__all__ = [
    "FakeCuda",
    "FakeCudaError",
    "FakeCudaStream",
    "FakeCudart",
    "FakeLibCuda",
    "FakeLogicError",
    "FakePyCudaDriver",
    "install_fake_cuda_python",
    "install_fake_pycuda",
]


class FakeCudaError(RuntimeError):
    """What a failed CUDA call raises (edgeseg's CudaError stands for it in the real wrapper)."""


class FakeCuda:
    """edgeseg's CUDA API (runtime/cuda.py's CudaPython) over a simulated GPU: addresses map to numpy byte buffers.

    Like CudaPython it goes through the CUDA runtime, so its memory and streams belong to the context the runtime
    uses in the calling thread (the primary one unless another is current); `active()` changes nothing.
    integrated=True stands for a Jetson: `mapped_empty` hands out host memory whose device address aliases it.
    `release(stream)` frees every pinned/mapped host buffer and destroys the stream, as CudaPython.release does.
    """

    name = "fake"

    def __init__(
        self, gpu: str = "Fake Orin", capability: str = "8.7", integrated: bool = False, device: FakeGpu | None = None
    ) -> None:
        self.gpu_name, self.capability, self.integrated = gpu, capability, integrated
        self.gpu = device or FakeGpu()
        self.allocated: dict[int, int] = {}
        self.copies: list[np.ndarray] = []
        self.freed: list[int] = []
        self.pinned: list[np.ndarray] = []
        self.mapped: dict[int, np.ndarray] = {}
        self.streams: list[int] = []
        self.destroyed_streams: list[int] = []
        self.released = False

    @property
    def memory(self) -> dict[int, np.ndarray]:
        return self.gpu.memory

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        yield  # the runtime API picks its context itself, as CudaPython's active() leaves it to

    def device(self) -> tuple[str, str]:
        return self.gpu_name, self.capability

    def malloc(self, nbytes: int) -> int:
        pointer = self.gpu.allocate(nbytes, self.gpu.runtime_current())
        self.allocated[pointer] = nbytes
        return pointer

    def free(self, pointer: int) -> None:
        if pointer not in self.allocated or pointer in self.freed:
            raise FakeCudaError("cudaErrorInvalidValue: free of a pointer that is not allocated")
        self.freed.append(pointer)
        self.gpu.release(pointer)

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        array = np.empty(shape, dtype)
        self.pinned.append(array)
        return array

    def mapped_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, int]:
        if not self.integrated:
            raise FakeCudaError("mapped host memory is used only on integrated GPUs in edgeseg")
        array = np.zeros(shape, dtype)
        pointer = self.gpu.address()
        self.gpu.alias(pointer, array.reshape(-1).view(np.uint8), self.gpu.runtime_current())
        self.mapped[pointer] = array
        return array, pointer

    def stream(self) -> int:
        handle = self.gpu.stream(self.gpu.runtime_current())
        self.streams.append(handle)
        return handle

    def _check(self, stream: int, pointer: int | None = None, array: np.ndarray | None = None) -> None:
        if stream in self.destroyed_streams or stream not in self.streams:
            raise FakeCudaError("cudaErrorInvalidResourceHandle: stream")
        for handle in (stream, pointer):
            problem = None if handle is None else self.gpu.problem(handle)
            if problem:
                raise FakeCudaError(f"cudaErrorInvalidResourceHandle: {problem}")
        if array is not None and not array.flags.c_contiguous:
            raise FakeCudaError("the copy reads nbytes from the array's first byte: the array must be contiguous")
        if array is not None and pointer is not None and array.nbytes > self.allocated[pointer]:
            raise FakeCudaError("cudaErrorInvalidValue: copy larger than the allocation")

    def copy_to_device(self, pointer: int, array: np.ndarray, stream: int) -> None:
        self._check(stream, pointer, array)
        self.copies.append(array.copy())
        self.memory[pointer][: array.nbytes] = np.frombuffer(array.tobytes(), np.uint8)

    def copy_to_host(self, array: np.ndarray, pointer: int, stream: int) -> None:
        self._check(stream, pointer, array)
        array[...] = np.frombuffer(self.memory[pointer][: array.nbytes].tobytes(), array.dtype).reshape(array.shape)

    def synchronize(self, stream: int) -> None:
        self._check(stream)

    def release(self, stream: int | None = None) -> None:
        self.pinned.clear()
        for pointer in self.mapped:
            self.gpu.release(pointer)
        self.mapped.clear()
        if stream is not None:
            self._check(stream)
            self.destroyed_streams.append(stream)
            self.gpu.owner.pop(stream, None)
        self.released = True


class FakeLibCuda:
    """libcuda.so.1 (the CUDA driver API) as ctypes calls it: results are written through byref() arguments.

    driver: what cuDriverGetVersion reports (1000 × major + 10 × minor: 12060 is CUDA 12.6).
    """

    def __init__(
        self, gpu: str = "Orin", capability: tuple[int, int] = (8, 7), integrated: bool = True, driver: int = 12060
    ) -> None:
        self.gpu, self.capability, self.integrated, self.driver = gpu, capability, integrated, driver
        self.initialized = False

    def cuInit(self, flags: int) -> int:
        self.initialized = True
        return 0

    def cuDriverGetVersion(self, version: Any) -> int:
        version._obj.value = self.driver
        return 0

    def cuDeviceGet(self, device: Any, ordinal: int) -> int:
        if not self.initialized:
            return 3  # CUDA_ERROR_NOT_INITIALIZED
        device._obj.value = ordinal
        return 0

    def cuDeviceGetName(self, buffer: Any, length: int, device: Any) -> int:
        buffer.value = self.gpu.encode()[: length - 1]
        return 0

    def cuDeviceGetAttribute(self, value: Any, attribute: int, device: Any) -> int:
        # CUdevice_attribute values (cuda.h): INTEGRATED, COMPUTE_CAPABILITY_MAJOR, COMPUTE_CAPABILITY_MINOR
        values = {18: int(self.integrated), 75: self.capability[0], 76: self.capability[1]}
        if attribute not in values:
            return 1  # CUDA_ERROR_INVALID_VALUE
        value._obj.value = values[attribute]
        return 0
