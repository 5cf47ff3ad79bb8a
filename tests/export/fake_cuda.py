"""Test doubles at the CUDA boundary: edgeseg's CUDA API (FakeCuda), `pycuda.driver` and libcuda.

No GPU here. Like the TensorRT double beside them, they reject what the real libraries reject:
freeing twice, a destroyed stream, and pycuda calls in a thread where no CUDA context is current
(CUDA's context stack is per thread). libcuda's results come back through ctypes byref() arguments.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np


class FakeCudaError(RuntimeError):
    """What a failed CUDA call raises (edgeseg's CudaError stands for it in the real wrapper)."""


class FakeCuda:
    """edgeseg's CUDA API (runtime/cuda.py) over simulated memory: addresses map to numpy byte buffers.

    integrated=True stands for a Jetson: `mapped_empty` hands out host memory whose device address aliases it.
    `release(stream)` frees every pinned/mapped host buffer and destroys the stream, as CudaPython.release does.
    """

    def __init__(self, gpu: str = "Fake Orin", capability: str = "8.7", integrated: bool = False) -> None:
        self.gpu, self.capability, self.integrated = gpu, capability, integrated
        self.allocated: dict[int, int] = {}
        self.memory: dict[int, np.ndarray] = {}
        self.copies: list[np.ndarray] = []
        self.freed: list[int] = []
        self.pinned: list[np.ndarray] = []
        self.mapped: dict[int, np.ndarray] = {}
        self.destroyed_streams: list[int] = []
        self.released = False
        self._next = 0x1000
        self._streams = 0

    def _address(self) -> int:
        self._next += 0x1000
        return self._next

    def device(self) -> tuple[str, str]:
        return self.gpu, self.capability

    def malloc(self, nbytes: int) -> int:
        pointer = self._address()
        self.allocated[pointer] = nbytes
        self.memory[pointer] = np.zeros(nbytes, np.uint8)
        return pointer

    def free(self, pointer: int) -> None:
        if pointer not in self.allocated or pointer in self.freed:
            raise FakeCudaError("cudaErrorInvalidValue: free of a pointer that is not allocated")
        self.freed.append(pointer)

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        array = np.empty(shape, dtype)
        self.pinned.append(array)
        return array

    def mapped_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, int]:
        if not self.integrated:
            raise FakeCudaError("mapped host memory is used only on integrated GPUs in edgeseg")
        array = np.zeros(shape, dtype)
        pointer = self._address()
        self.memory[pointer] = array.reshape(-1).view(np.uint8)  # the device address aliases the host buffer
        self.mapped[pointer] = array
        return array, pointer

    def stream(self) -> int:
        self._streams += 1
        return self._streams

    def _check_stream(self, stream: int) -> None:
        if stream in self.destroyed_streams or not 0 < stream <= self._streams:
            raise FakeCudaError("cudaErrorInvalidResourceHandle: stream")

    def copy_to_device(self, pointer: int, array: np.ndarray, stream: int) -> None:
        self._check_stream(stream)
        assert array.nbytes <= self.allocated[pointer], "copy larger than the allocation"
        self.copies.append(array.copy())
        self.memory[pointer][: array.nbytes] = np.frombuffer(np.ascontiguousarray(array).tobytes(), np.uint8)

    def copy_to_host(self, array: np.ndarray, pointer: int, stream: int) -> None:
        self._check_stream(stream)
        assert array.nbytes <= self.allocated[pointer], "copy larger than the allocation"
        array[...] = np.frombuffer(self.memory[pointer][: array.nbytes].tobytes(), array.dtype).reshape(array.shape)

    def synchronize(self, stream: int) -> None:
        self._check_stream(stream)

    def release(self, stream: int | None = None) -> None:
        self.pinned.clear()
        for pointer in self.mapped:
            self.memory.pop(pointer, None)
        self.mapped.clear()
        if stream is not None:
            self._check_stream(stream)
            self.destroyed_streams.append(stream)
        self.released = True


class FakeLogicError(RuntimeError):
    """pycuda._driver.LogicError."""


class _FakeAllocation:
    """pycuda.driver.DeviceAllocation: int() gives the device address."""

    def __init__(self, pointer: int, driver: FakePyCudaDriver) -> None:
        self.pointer, self.driver = pointer, driver

    def __int__(self) -> int:
        return self.pointer

    def free(self) -> None:
        self.driver._need_context("cuMemFree")
        self.driver.memory.pop(self.pointer)


class _FakeHostAllocation(bytearray):
    """pycuda.driver.HostAllocation: page-locked memory; mapped (DEVICEMAP) memory has a device pointer."""

    def __init__(self, nbytes: int, device_pointer: int | None) -> None:
        super().__init__(nbytes)
        self.device_pointer = device_pointer

    def get_device_pointer(self) -> int:
        if self.device_pointer is None:
            raise FakeLogicError("cuMemHostGetDevicePointer failed: invalid value (memory not mapped)")
        return self.device_pointer


class FakePyCudaDriver:
    """`pycuda.driver`: device memory, page-locked memory and streams, each needing a current context.

    The context stack is per thread, as CUDA's is: a context made current in the main thread (what
    `import pycuda.autoinit` does) is not current in the pipeline's inference thread.
    """

    def __init__(self, gpu: str = "Fake Orin", capability: tuple[int, int] = (8, 7), integrated: bool = True):
        self.gpu, self.capability, self.integrated = gpu, capability, integrated
        self.memory: dict[int, np.ndarray] = {}
        self._local = threading.local()
        self._next = 0x9000
        self.initialized = False
        driver = self

        class Context:
            def push(self) -> None:
                driver._stack().append(self)

            @staticmethod
            def pop() -> None:
                driver._stack().pop()

            def detach(self) -> None:
                pass

        class Device:
            def __init__(self, index: int) -> None:
                driver._need_init()
                self.index = index

            def name(self) -> str:
                return driver.gpu

            def compute_capability(self) -> tuple[int, int]:
                return driver.capability

            def get_attribute(self, attribute: int) -> int:
                if attribute != driver.device_attribute.INTEGRATED:
                    raise FakeLogicError(f"attribute {attribute} is not simulated")
                return int(driver.integrated)

            def retain_primary_context(self) -> Context:
                return Context()  # not current until pushed

            def make_context(self) -> Context:
                context = Context()
                context.push()
                return context

        self.Context, self.Device = Context, Device
        self.host_alloc_flags = SimpleNamespace(PORTABLE=1, DEVICEMAP=2, WRITECOMBINED=4)
        self.device_attribute = SimpleNamespace(INTEGRATED=18)

    def _stack(self) -> list[Any]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def _need_init(self) -> None:
        if not self.initialized:
            raise FakeLogicError("cuInit has not been called")

    def _need_context(self, call: str) -> None:
        if not self._stack():
            raise FakeLogicError(
                f"{call} failed: explicit_context_dependent failed: invalid device context - "
                "no currently active context?"
            )

    def init(self) -> None:
        self.initialized = True

    def mem_alloc(self, nbytes: int) -> Any:
        self._need_context("cuMemAlloc")
        self._next += 0x1000
        pointer = self._next
        self.memory[pointer] = np.zeros(nbytes, np.uint8)
        return _FakeAllocation(pointer, self)

    def pagelocked_empty(self, shape: tuple[int, ...], dtype: Any, order: str = "C", mem_flags: int = 0) -> np.ndarray:
        self._need_context("cuMemHostAlloc")
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self._next += 0x1000
        allocation = _FakeHostAllocation(nbytes, self._next if mem_flags & self.host_alloc_flags.DEVICEMAP else None)
        if allocation.device_pointer is not None:
            self.memory[allocation.device_pointer] = np.frombuffer(allocation, np.uint8)  # aliases the host buffer
        return np.ndarray(shape, dtype, buffer=allocation)  # .base is the allocation, as in pycuda

    def Stream(self) -> Any:
        self._need_context("cuStreamCreate")
        driver = self
        stream = SimpleNamespace(handle=id(object()))
        stream.synchronize = lambda: driver._need_context("cuStreamSynchronize")
        return stream

    def memcpy_htod_async(self, dest: int, src: np.ndarray, stream: Any) -> None:
        self._need_context("cuMemcpyHtoDAsync")
        self.memory[int(dest)][: src.nbytes] = np.frombuffer(np.ascontiguousarray(src).tobytes(), np.uint8)

    def memcpy_dtoh_async(self, dest: np.ndarray, src: int, stream: Any) -> None:
        self._need_context("cuMemcpyDtoHAsync")
        dest[...] = np.frombuffer(self.memory[int(src)][: dest.nbytes].tobytes(), dest.dtype).reshape(dest.shape)


def install_fake_pycuda(monkeypatch: Any, driver: FakePyCudaDriver) -> None:
    """Make `import pycuda.driver` / `import pycuda.autoinit` give the double, with cuda-python absent.

    The real `pycuda.autoinit` initializes CUDA and makes a new context current in the importing thread;
    that import happens in the test's (main) thread, so the same is done here before it is registered.
    """
    package = ModuleType("pycuda")
    autoinit = ModuleType("pycuda.autoinit")
    package.driver, package.autoinit = driver, autoinit
    monkeypatch.setitem(sys.modules, "pycuda", package)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    driver.init()
    autoinit.context = driver.Device(0).make_context()
    monkeypatch.setitem(sys.modules, "pycuda.autoinit", autoinit)
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: ImportError, like an absent package


class FakeLibCuda:
    """libcuda.so.1 (the CUDA driver API) as ctypes calls it: results are written through byref() arguments."""

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


class FakeCudart(ModuleType):
    """`cuda.bindings.runtime` (cuda-python ≥ 12.6) for the host-memory calls: each returns (error, *results).

    Host memory is real (ctypes buffers), so the arrays edgeseg builds over these addresses can be used.
    cudaHostGetDevicePointer fails for memory allocated without cudaHostAllocMapped, as CUDA does.
    """

    cudaHostAllocMapped = 2  # cuda.bindings.runtime.cudaHostAllocMapped

    def __init__(self, integrated: bool = True) -> None:
        super().__init__("cuda.bindings.runtime")
        self.integrated = integrated
        self.host: dict[int, Any] = {}
        self.mapped: set[int] = set()
        self.freed: list[int] = []

    def cudaGetErrorName(self, error: int) -> tuple[int, bytes]:
        return 0, {1: b"cudaErrorInvalidValue"}.get(int(error), b"cudaErrorUnknown")

    def cudaGetDeviceProperties(self, device: int) -> tuple[int, Any]:
        return 0, SimpleNamespace(name=b"Orin\x00\x00", major=8, minor=7, integrated=int(self.integrated))

    def cudaHostAlloc(self, size: int, flags: int) -> tuple[int, int]:
        import ctypes

        buffer = (ctypes.c_byte * size)()
        address = ctypes.addressof(buffer)
        self.host[address] = buffer
        if flags & self.cudaHostAllocMapped:
            self.mapped.add(address)
        return 0, address

    def cudaMallocHost(self, size: int) -> tuple[int, int]:
        return self.cudaHostAlloc(size, 0)

    def cudaHostGetDevicePointer(self, host: int, flags: int) -> tuple[int, int]:
        if host not in self.mapped or flags != 0:
            return 1, 0
        return 0, host  # integrated GPU with unified addressing: the device address is the host address

    def cudaFreeHost(self, pointer: int) -> tuple[int]:
        self.freed.append(pointer)
        return (0,)
