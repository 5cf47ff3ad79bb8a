"""Test double at the CUDA boundary: cuda-python's `cuda.bindings.runtime` (and `cuda.bindings.utils`).

Checked against cuda-bindings 12.9.10 and 13.4.4 as pip installs them (their docstrings and behaviour without a
GPU) and their release notes (12.9.1, 13.0.0):
- Every call returns a tuple (cudaError_t, *results); on failure the results are None: `(err, None)`.
  cudaError_t values: cudaSuccess 0, cudaErrorInvalidValue 1, cudaErrorMemoryAllocation 2,
  cudaErrorInsufficientDriver 35 (a runtime newer than the driver), cudaErrorNoDevice 100,
  cudaErrorInvalidResourceHandle 400.
- cudaStreamCreate() returns a `cudaStream_t` object, not an int. Its address as an int comes from
  `cuda.bindings.utils.get_cuda_native_handle(stream)` (added in 12.9.1 / 13.0.0, which deprecate
  `int(stream)` "subject to future removal"); `stream.getPtr()` is the address *of the handle's storage*, not
  the handle. `int_removed=True` stands for the announced release without `__int__` / `__index__`.
- cudaMemcpyAsync(dst, src, count, kind, stream): `count` must be an int ("an integer is required"); kind a
  cudaMemcpyKind (HostToHost 0, HostToDevice 1, DeviceToHost 2, DeviceToDevice 3, Default 4); `stream` a
  cudaStream_t, an int or None. It copies `count` bytes from `src`: it cannot know a numpy view is strided.
- cudaHostAllocMapped = 2, cudaHostAllocDefault = 0; cudaHostAlloc memory is page aligned, and
  cudaHostGetDevicePointer fails for memory allocated without cudaHostAllocMapped.
- cudaRuntimeGetVersion() answers without a driver: 1000 × major + 10 × minor of the CUDA the bindings are built
  for (12090 for 12.9.10, 13040 for 13.4.4); every call that needs the driver returns
  cudaErrorInsufficientDriver when the driver's CUDA major is older than the bindings'.
Memory and streams belong to the runtime's context of the calling thread (fake_gpu.FakeGpu).
"""

from __future__ import annotations

import ctypes
import enum
import sys
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

from .fake_gpu import FakeGpu


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100
    cudaErrorInvalidResourceHandle = 400


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3
    cudaMemcpyDefault = 4


class FakeCudaStream:
    """cuda.bindings.runtime.cudaStream_t: a handle object; getPtr() is where the handle is stored."""

    int_removed = False

    def __init__(self, handle: int = 0) -> None:
        self._storage = ctypes.c_void_p(handle)

    def getPtr(self) -> int:
        return ctypes.addressof(self._storage)

    def _handle(self) -> int:
        return self._storage.value or 0

    def __int__(self) -> int:
        if self.int_removed:
            raise TypeError("int() argument must be a string, a bytes-like object or a real number, not 'cudaStream_t'")
        return self._handle()

    def __index__(self) -> int:
        return self.__int__()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeCudaStream) and other._handle() == self._handle()

    def __hash__(self) -> int:
        return hash(self._handle())


def get_cuda_native_handle(obj: Any) -> int:
    """cuda.bindings.utils.get_cuda_native_handle (13.4.4: an int is refused)."""
    if not isinstance(obj, FakeCudaStream):
        raise TypeError(f"Unknown type: {type(obj)}")
    return obj._handle()


class FakeCudart(ModuleType):
    """`cuda.bindings.runtime` over the shared FakeGpu: device memory, pinned/mapped host memory, streams, copies."""

    cudaHostAllocDefault = 0
    cudaHostAllocMapped = 2
    cudaError_t = cudaError_t
    cudaMemcpyKind = cudaMemcpyKind

    def __init__(
        self,
        integrated: bool = True,
        runtime: int = 12060,
        driver: int = 12060,
        device: FakeGpu | None = None,
        int_removed: bool = False,
    ) -> None:
        super().__init__("cuda.bindings.runtime")
        self.integrated, self.runtime, self.driver = integrated, runtime, driver
        self.gpu = device or FakeGpu()
        stream_class = type("cudaStream_t", (FakeCudaStream,), {"int_removed": int_removed})
        self.cudaStream_t = stream_class
        self.host: dict[int, Any] = {}  # page-aligned host address → the ctypes buffer keeping it alive
        self.mapped: set[int] = set()
        self.freed: list[int] = []
        self.copies: list[tuple[int, int]] = []  # (kind, count)

    @property
    def memory(self) -> dict[int, np.ndarray]:
        return self.gpu.memory

    def _driver_too_old(self) -> bool:
        return self.driver // 1000 < self.runtime // 1000

    def _fail(self, error: cudaError_t, results: int = 1) -> tuple:
        return (error, *([None] * results))

    def cudaGetErrorName(self, error: int) -> tuple[cudaError_t, bytes]:
        return cudaError_t.cudaSuccess, cudaError_t(int(error)).name.encode()

    def cudaRuntimeGetVersion(self) -> tuple[cudaError_t, int]:
        return cudaError_t.cudaSuccess, self.runtime

    def cudaGetDeviceProperties(self, device: int) -> tuple[cudaError_t, Any]:
        if self._driver_too_old():
            return self._fail(cudaError_t.cudaErrorInsufficientDriver)
        props = SimpleNamespace(name=b"Orin\x00\x00", major=8, minor=7, integrated=int(self.integrated))
        return cudaError_t.cudaSuccess, props

    def cudaMalloc(self, size: int) -> tuple[cudaError_t, int | None]:
        if self._driver_too_old():
            return self._fail(cudaError_t.cudaErrorInsufficientDriver)
        return cudaError_t.cudaSuccess, self.gpu.allocate(int(size), self.gpu.runtime_current())

    def cudaFree(self, pointer: int) -> tuple[cudaError_t]:
        if self.gpu.problem(pointer) or pointer not in self.memory or pointer in self.mapped:
            return (cudaError_t.cudaErrorInvalidValue,)
        self.gpu.release(pointer)
        self.freed.append(pointer)
        return (cudaError_t.cudaSuccess,)

    def cudaHostAlloc(self, size: int, flags: int) -> tuple[cudaError_t, int | None]:
        if self._driver_too_old():
            return self._fail(cudaError_t.cudaErrorInsufficientDriver)
        buffer = (ctypes.c_byte * (size + 4096))()
        address = (ctypes.addressof(buffer) + 4095) & ~4095  # page aligned, as cudaHostAlloc's memory is
        self.host[address] = buffer
        if flags & self.cudaHostAllocMapped:
            self.mapped.add(address)
            view = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(address))
            self.gpu.alias(address, view, self.gpu.runtime_current())  # unified addressing: same address
        return cudaError_t.cudaSuccess, address

    def cudaMallocHost(self, size: int) -> tuple[cudaError_t, int | None]:
        return self.cudaHostAlloc(size, self.cudaHostAllocDefault)

    def cudaHostGetDevicePointer(self, host: int, flags: int) -> tuple[cudaError_t, int | None]:
        if host not in self.mapped or flags != 0:
            return self._fail(cudaError_t.cudaErrorInvalidValue)
        return cudaError_t.cudaSuccess, host  # integrated GPU with unified addressing: the host address

    def cudaFreeHost(self, pointer: int) -> tuple[cudaError_t]:
        if pointer not in self.host:
            return (cudaError_t.cudaErrorInvalidValue,)
        self.freed.append(pointer)
        self.mapped.discard(pointer)
        self.gpu.release(pointer)
        del self.host[pointer]
        return (cudaError_t.cudaSuccess,)

    def cudaStreamCreate(self) -> tuple[cudaError_t, FakeCudaStream | None]:
        if self._driver_too_old():
            return self._fail(cudaError_t.cudaErrorInsufficientDriver)
        return cudaError_t.cudaSuccess, self.cudaStream_t(self.gpu.stream(self.gpu.runtime_current()))

    def _stream(self, stream: Any) -> int:
        if stream is None:
            return 0
        if isinstance(stream, FakeCudaStream):
            return stream._handle()
        if isinstance(stream, int):
            return stream
        raise TypeError(f"Argument 'stream' is not instance of type (expected cudaStream_t or int, got {type(stream)})")

    def _stream_problem(self, stream: Any) -> bool:
        handle = self._stream(stream)
        return handle != 0 and self.gpu.problem(handle) is not None

    def cudaStreamSynchronize(self, stream: Any) -> tuple[cudaError_t]:
        bad = self._stream_problem(stream)
        return (cudaError_t.cudaErrorInvalidResourceHandle if bad else cudaError_t.cudaSuccess,)

    def cudaStreamDestroy(self, stream: Any) -> tuple[cudaError_t]:
        if self._stream_problem(stream):
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        self.gpu.owner.pop(self._stream(stream), None)
        return (cudaError_t.cudaSuccess,)

    def cudaMemcpyAsync(self, dst: int, src: int, count: int, kind: Any, stream: Any) -> tuple[cudaError_t]:
        if not all(isinstance(value, (int, np.integer)) for value in (dst, src, count)):
            raise TypeError("an integer is required")
        dst, src, count = int(dst), int(src), int(count)
        if self._stream_problem(stream):
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        if int(kind) == cudaMemcpyKind.cudaMemcpyHostToDevice:
            if self.gpu.problem(dst, count) or dst not in self.memory:
                return (cudaError_t.cudaErrorInvalidValue,)
            self.memory[dst][:count] = np.frombuffer(ctypes.string_at(src, count), np.uint8)
        elif int(kind) == cudaMemcpyKind.cudaMemcpyDeviceToHost:
            if self.gpu.problem(src, count) or src not in self.memory:
                return (cudaError_t.cudaErrorInvalidValue,)
            ctypes.memmove(dst, self.memory[src].ctypes.data, count)
        else:
            return (cudaError_t.cudaErrorInvalidValue,)  # edgeseg copies only host↔device
        self.copies.append((int(kind), count))
        return (cudaError_t.cudaSuccess,)


def install_fake_cuda_python(
    monkeypatch: Any, cudart: FakeCudart, with_utils: bool = True, pycuda_absent: bool = True
) -> None:
    """Make `from cuda.bindings import runtime` give `cudart`; with_utils=False stands for cuda-python < 12.9.1,
    which has no cuda.bindings.utils."""
    bindings = ModuleType("cuda.bindings")
    bindings.runtime = cudart
    monkeypatch.setitem(sys.modules, "cuda", ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    if with_utils:
        utils = ModuleType("cuda.bindings.utils")
        utils.get_cuda_native_handle = get_cuda_native_handle
        bindings.utils = utils
        monkeypatch.setitem(sys.modules, "cuda.bindings.utils", utils)
    else:
        monkeypatch.setitem(sys.modules, "cuda.bindings.utils", None)
    if pycuda_absent:
        for name in ("pycuda", "pycuda.driver", "pycuda.autoinit"):
            monkeypatch.setitem(sys.modules, name, None)
