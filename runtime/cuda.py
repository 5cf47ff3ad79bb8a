"""The CUDA calls the TensorRT code needs, through cuda-python, or pycuda where that is what is installed.

Only device memory, pinned host memory, one stream and async copies: what a TensorRT engine needs to
run with `execute_async_v3`. Neither package is imported until a CUDA object is created.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError, MissingDependencyError


class CudaError(EdgesegError):
    """A CUDA call failed."""


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime  # cuda-python ≥ 12.6
    except ImportError:
        from cuda import cudart as runtime  # older cuda-python
    return runtime


class CudaPython:
    """cuda-python's runtime API: every call returns (error, *results)."""

    name = "cuda-python"

    def __init__(self) -> None:
        self.rt = _cudart()
        self._pinned: list[int] = []

    def _call(self, result: Any) -> Any:
        error, *values = result if isinstance(result, tuple) else (result,)
        if int(error) != 0:
            raise CudaError(f"CUDA call failed: {self.rt.cudaGetErrorName(error)[1].decode()}")
        return values[0] if len(values) == 1 else values

    def device(self) -> tuple[str, str]:
        props = self._call(self.rt.cudaGetDeviceProperties(0))
        name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        return name.rstrip("\x00"), f"{props.major}.{props.minor}"

    def malloc(self, nbytes: int) -> int:
        return int(self._call(self.rt.cudaMalloc(nbytes)))

    def free(self, pointer: int) -> None:
        self._call(self.rt.cudaFree(pointer))

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        pointer = int(self._call(self.rt.cudaMallocHost(nbytes)))
        self._pinned.append(pointer)
        buffer = np.ctypeslib.as_array((ctypes.c_byte * nbytes).from_address(pointer))
        return buffer.view(dtype).reshape(shape)

    def stream(self) -> int:
        return int(self._call(self.rt.cudaStreamCreate()))

    def copy_to_device(self, pointer: int, array: np.ndarray, stream: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(self.rt.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, kind, stream))

    def copy_to_host(self, array: np.ndarray, pointer: int, stream: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(self.rt.cudaMemcpyAsync(array.ctypes.data, pointer, array.nbytes, kind, stream))

    def synchronize(self, stream: int) -> None:
        self._call(self.rt.cudaStreamSynchronize(stream))

    def release(self, stream: int | None = None) -> None:
        for pointer in self._pinned:
            self.rt.cudaFreeHost(pointer)
        self._pinned.clear()
        if stream is not None:
            self.rt.cudaStreamDestroy(stream)


class PyCuda:
    """The same calls through pycuda (what many JetPack images have installed)."""

    name = "pycuda"

    def __init__(self) -> None:
        import pycuda.autoinit  # noqa: F401  (creates the context)
        import pycuda.driver as driver

        self.driver = driver
        self._allocations: dict[int, Any] = {}
        self._streams: dict[int, Any] = {}

    def device(self) -> tuple[str, str]:
        dev = self.driver.Device(0)
        return dev.name(), "{}.{}".format(*dev.compute_capability())

    def malloc(self, nbytes: int) -> int:
        allocation = self.driver.mem_alloc(nbytes)
        self._allocations[int(allocation)] = allocation
        return int(allocation)

    def free(self, pointer: int) -> None:
        self._allocations.pop(pointer).free()

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self.driver.pagelocked_empty(shape, dtype)

    def stream(self) -> int:
        stream = self.driver.Stream()
        self._streams[stream.handle] = stream
        return stream.handle

    def copy_to_device(self, pointer: int, array: np.ndarray, stream: int) -> None:
        self.driver.memcpy_htod_async(pointer, array, self._streams[stream])

    def copy_to_host(self, array: np.ndarray, pointer: int, stream: int) -> None:
        self.driver.memcpy_dtoh_async(array, pointer, self._streams[stream])

    def synchronize(self, stream: int) -> None:
        self._streams[stream].synchronize()

    def release(self, stream: int | None = None) -> None:
        if stream is not None:
            self._streams.pop(stream, None)


def cuda_api() -> CudaPython | PyCuda:
    """cuda-python if importable, else pycuda, else a clear error naming the extra."""
    try:
        return CudaPython()
    except ImportError:
        pass
    try:
        return PyCuda()
    except ImportError:
        raise MissingDependencyError(
            "TensorRT needs cuda-python (or pycuda) for device memory: pip install 'edgeseg[gpu]'"
        ) from None
