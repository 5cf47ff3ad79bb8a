"""Test double at the CUDA boundary: `pycuda.driver` (and `pycuda.autoinit`), over the shared FakeGpu.

Checked against inducer/pycuda (src/cpp/cuda.hpp, src/wrapper/wrap_cudadrv.cpp, pycuda/autoinit.py, v2026.1):
- Device memory, page-locked memory and streams need a current context (`context_dependent` throws "no currently
  active context?") and belong to it; the context stack is per thread, so a context made current in the main
  thread (what `import pycuda.autoinit` does with make_default_context) is not current in another thread.
- `DeviceAllocation.free` activates the allocation's own context, which fails from a thread other than the one
  the context was made current in ("cannot activate out-of-thread context") unless it is current there already.
- `memcpy_htod_async` / `memcpy_dtoh_async` take the buffer with PyBUF_ANY_CONTIGUOUS: numpy refuses a strided
  view with ValueError; they run in the current context, and a stream or address of another context fails.
- `Stream.handle` is the CUstream as an int (what TensorRT's execute_async_v3 takes).
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

from .fake_gpu import FakeCudaContext, FakeGpu


class FakeLogicError(RuntimeError):
    """pycuda._driver.LogicError."""


class _FakeAllocation:
    """pycuda.driver.DeviceAllocation: int() gives the device address."""

    def __init__(self, pointer: int, driver: FakePyCudaDriver) -> None:
        self.pointer, self.driver = pointer, driver
        self.thread = threading.get_ident()

    def __int__(self) -> int:
        return self.pointer

    def free(self) -> None:
        owner = self.driver.gpu.owner.get(self.pointer)
        if owner is None:
            raise FakeLogicError("device_allocation::free failed: invalid handle (freed twice?)")
        if self.driver.gpu.current() is not owner and threading.get_ident() != self.thread:
            raise FakeLogicError("cannot activate out-of-thread context")
        self.driver.gpu.release(self.pointer)


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
    """`pycuda.driver`: device memory, page-locked memory and streams, each needing (and owned by) a current context."""

    def __init__(
        self,
        gpu: str = "Fake Orin",
        capability: tuple[int, int] = (8, 7),
        integrated: bool = True,
        device: FakeGpu | None = None,
    ):
        self.gpu_name, self.capability, self.integrated = gpu, capability, integrated
        self.gpu = device or FakeGpu()
        self.initialized = False
        driver = self

        class Context:
            """pycuda.driver.Context around one CUDA context token."""

            def __init__(self, token: FakeCudaContext) -> None:
                self.token = token

            def push(self) -> None:
                driver.gpu.stack().append(self.token)

            @staticmethod
            def pop() -> None:
                if not driver.gpu.stack():
                    raise FakeLogicError("cuCtxPopCurrent failed: invalid context")
                driver.gpu.stack().pop()

            def detach(self) -> None:
                pass

        class Device:
            def __init__(self, index: int) -> None:
                driver._need_init()
                self.index = index

            def name(self) -> str:
                return driver.gpu_name

            def compute_capability(self) -> tuple[int, int]:
                return driver.capability

            def get_attribute(self, attribute: int) -> int:
                if attribute != driver.device_attribute.INTEGRATED:
                    raise FakeLogicError(f"attribute {attribute} is not simulated")
                return int(driver.integrated)

            def retain_primary_context(self) -> Context:
                return Context(driver.gpu.primary)  # the runtime's primary context; not current until pushed

            def make_context(self) -> Context:
                context = Context(FakeCudaContext("made by make_context"))
                context.push()
                return context

        self.Context, self.Device = Context, Device
        self.host_alloc_flags = SimpleNamespace(PORTABLE=1, DEVICEMAP=2, WRITECOMBINED=4)
        self.device_attribute = SimpleNamespace(INTEGRATED=18)
        self.streams: dict[int, FakeCudaContext] = {}

    @property
    def memory(self) -> dict[int, np.ndarray]:
        return self.gpu.memory

    def _need_init(self) -> None:
        if not self.initialized:
            raise FakeLogicError("cuInit has not been called")

    def _need_context(self, call: str) -> FakeCudaContext:
        current = self.gpu.current()
        if current is None:
            raise FakeLogicError(
                f"{call} failed: explicit_context_dependent failed: invalid device context - "
                "no currently active context?"
            )
        return current

    def _need_own(self, call: str, handle: int) -> None:
        self._need_context(call)
        problem = self.gpu.problem(handle)
        if problem:
            raise FakeLogicError(f"{call} failed: {problem}")

    def init(self) -> None:
        self.initialized = True

    def mem_alloc(self, nbytes: int) -> Any:
        return _FakeAllocation(self.gpu.allocate(nbytes, self._need_context("cuMemAlloc")), self)

    def pagelocked_empty(self, shape: tuple[int, ...], dtype: Any, order: str = "C", mem_flags: int = 0) -> np.ndarray:
        context = self._need_context("cuMemHostAlloc")
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        mapped = bool(mem_flags & self.host_alloc_flags.DEVICEMAP)
        allocation = _FakeHostAllocation(nbytes, self.gpu.address() if mapped else None)
        if allocation.device_pointer is not None:  # the device address aliases the host buffer
            self.gpu.alias(allocation.device_pointer, np.frombuffer(allocation, np.uint8), context)
        return np.ndarray(shape, dtype, buffer=allocation)  # .base is the allocation, as in pycuda

    def Stream(self) -> Any:
        handle = self.gpu.stream(self._need_context("cuStreamCreate"))
        stream = SimpleNamespace(handle=handle)
        stream.synchronize = lambda: self._need_own("cuStreamSynchronize", handle)
        return stream

    @staticmethod
    def _contiguous(array: np.ndarray) -> None:
        if not (array.flags.c_contiguous or array.flags.f_contiguous):
            raise ValueError("ndarray is not contiguous")  # numpy's answer to PyBUF_ANY_CONTIGUOUS

    def memcpy_htod_async(self, dest: int, src: np.ndarray, stream: Any) -> None:
        self._contiguous(src)
        self._need_own("cuMemcpyHtoDAsync", int(dest))
        self._need_own("cuMemcpyHtoDAsync", stream.handle)
        self.memory[int(dest)][: src.nbytes] = np.frombuffer(src.tobytes(order="A"), np.uint8)

    def memcpy_dtoh_async(self, dest: np.ndarray, src: int, stream: Any) -> None:
        self._contiguous(dest)
        self._need_own("cuMemcpyDtoHAsync", int(src))
        self._need_own("cuMemcpyDtoHAsync", stream.handle)
        dest[...] = np.frombuffer(self.memory[int(src)][: dest.nbytes].tobytes(), dest.dtype).reshape(dest.shape)


def install_fake_pycuda(monkeypatch: Any, driver: FakePyCudaDriver, cuda_python_absent: bool = True) -> None:
    """Make `import pycuda.driver` / `import pycuda.autoinit` give the double (and cuda-python absent, by default).

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
    if cuda_python_absent:
        for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.bindings.utils", "cuda.cudart"):
            monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: ImportError, like an absent package
