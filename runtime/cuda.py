"""The CUDA calls the TensorRT code needs, through cuda-python, or pycuda where that is what is installed.

Only device memory, pinned host memory, one stream and async copies: what a TensorRT engine needs to
run with `execute_async_v3`. On an integrated GPU (every Jetson) host and device share one memory, so
`mapped_empty` gives pinned host memory the GPU reads and writes directly, and no copies are needed.
Neither package is imported until a CUDA object is created.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError, MissingDependencyError, install_hint


class CudaError(EdgesegError):
    """A CUDA call failed."""


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime  # cuda-python ≥ 12.6
    except ImportError:
        from cuda import cudart as runtime  # older cuda-python
    return runtime


def _native_handle() -> Any:
    """How to get a cuda-python object's address as an int: `cuda.bindings.utils.get_cuda_native_handle` where it
    exists (cuda-bindings ≥ 12.9.1 / 13.0, which deprecate `int(obj)` for removal), else `int` (older releases).
    Not `getPtr()`: that is the address where the handle is stored, not the handle."""
    try:
        from cuda.bindings.utils import get_cuda_native_handle
    except ImportError:
        return int
    return get_cuda_native_handle


class CudaPython:
    """cuda-python's runtime API: every call returns (error, *results)."""

    name = "cuda-python"

    def __init__(self) -> None:
        self.rt = _cudart()
        self._handle = _native_handle()
        self._pinned: list[int] = []
        self._streams: dict[int, Any] = {}  # handle → the cudaStream_t object, which cuda-python's calls take

    def active(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to do: the runtime API uses the device's primary context in a thread where none is current."""
        return contextlib.nullcontext()

    def built_for(self) -> str:
        """The CUDA version these bindings are built for ("13.0"): cudaRuntimeGetVersion needs no driver."""
        from edgeseg.runtime.gpu import cuda_version

        return cuda_version(int(self._call(self.rt.cudaRuntimeGetVersion())))

    def driver_mismatch(self) -> str | None:
        """Why this driver cannot run these bindings, or None (also where there is no driver to ask).

        cuda-bindings follows the CUDA toolkit's major version and links that runtime: 13.x on a CUDA 12 driver
        fails on its first call. Within one major (and for a newer driver) CUDA's compatibility rules hold.
        """
        from edgeseg.runtime.gpu import driver_cuda

        driver, built = driver_cuda(), self.built_for()
        if driver is None or int(built.split(".")[0]) <= int(driver.split(".")[0]):
            return None
        return f"cuda-python is built for CUDA {built}, but this driver supports CUDA {driver}"

    def _call(self, result: Any) -> Any:
        error, *values = result if isinstance(result, tuple) else (result,)
        if int(error) != 0:
            raise CudaError(f"CUDA call failed: {self.rt.cudaGetErrorName(error)[1].decode()}")
        return values[0] if len(values) == 1 else values

    def _properties(self) -> Any:
        try:
            return self._call(self.rt.cudaGetDeviceProperties(0))
        except RuntimeError as exc:  # cuda-python raises this when libcuda.so.1 is missing: no NVIDIA driver
            raise CudaError(f"no CUDA device here ({exc})") from exc

    def device(self) -> tuple[str, str]:
        props = self._properties()
        name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        return name.rstrip("\x00"), f"{props.major}.{props.minor}"

    @property
    def integrated(self) -> bool:
        """True where the GPU shares the host's memory (a Jetson): mapped host memory then needs no copies."""
        return bool(self._properties().integrated)

    def _host_array(self, shape: tuple[int, ...], dtype: np.dtype, flags: int) -> tuple[np.ndarray, int]:
        """cudaHostAlloc'd memory as a numpy array (freed by `release`), and its host address."""
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        pointer = int(self._call(self.rt.cudaHostAlloc(nbytes, flags)))
        self._pinned.append(pointer)
        buffer = np.ctypeslib.as_array((ctypes.c_byte * nbytes).from_address(pointer))
        return buffer.view(dtype).reshape(shape), pointer

    def mapped_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, int]:
        """Pinned host memory mapped into the device's address space: the array and its device pointer.

        64-bit Linux has unified addressing, so no cudaSetDeviceFlags(cudaDeviceMapHost) is needed first.
        """
        array, pointer = self._host_array(shape, dtype, self.rt.cudaHostAllocMapped)
        return array, int(self._call(self.rt.cudaHostGetDevicePointer(pointer, 0)))

    def malloc(self, nbytes: int) -> int:
        return int(self._call(self.rt.cudaMalloc(nbytes)))

    def free(self, pointer: int) -> None:
        self._call(self.rt.cudaFree(pointer))

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self._host_array(shape, dtype, 0)[0]  # 0: cudaHostAllocDefault, what cudaMallocHost does

    def stream(self) -> int:
        """A new stream, as the int handle TensorRT's execute_async_v3 takes."""
        stream = self._call(self.rt.cudaStreamCreate())  # a cudaStream_t object
        handle = int(self._handle(stream))
        self._streams[handle] = stream
        return handle

    def copy_to_device(self, pointer: int, array: np.ndarray, stream: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(self.rt.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, kind, self._streams[stream]))

    def copy_to_host(self, array: np.ndarray, pointer: int, stream: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(self.rt.cudaMemcpyAsync(array.ctypes.data, pointer, array.nbytes, kind, self._streams[stream]))

    def synchronize(self, stream: int) -> None:
        self._call(self.rt.cudaStreamSynchronize(self._streams.get(stream, stream)))

    def release(self, stream: int | None = None) -> None:
        for pointer in self._pinned:
            self.rt.cudaFreeHost(pointer)
        self._pinned.clear()
        if stream is not None:
            self.rt.cudaStreamDestroy(self._streams.pop(stream, stream))


def _host_allocation(array: np.ndarray) -> Any:
    """The pycuda HostAllocation behind a page-locked array (its .base, possibly through views)."""
    base: Any = array
    while not hasattr(base, "get_device_pointer"):
        base = base.base
    return base


class PyCuda:
    """The same calls through pycuda (what many JetPack images have installed).

    pycuda's calls need a CUDA context current in the calling thread, and each thread has its own: the
    backend is made in the main thread but runs in the pipeline's inference thread. So every call pushes
    the device's primary context (the one TensorRT and the CUDA runtime use) and pops it afterwards, and
    `active()` makes it current around TensorRT's own calls: TensorRT uses whatever context is current (with
    `pycuda.autoinit` imported, autoinit's own one), and its engine, execution context, buffers and stream must
    all belong to one context.
    """

    name = "pycuda"

    def __init__(self) -> None:
        import pycuda.driver as driver

        driver.init()
        self.driver = driver
        self.context = driver.Device(0).retain_primary_context()
        self._allocations: dict[int, Any] = {}
        self._streams: dict[int, Any] = {}
        self._depth = threading.local()  # how often this thread has pushed the primary context

    @contextlib.contextmanager
    def _current(self) -> Iterator[None]:
        depth = getattr(self._depth, "value", 0)
        if depth == 0:  # pushed once per thread, however deeply nested
            self.context.push()
        self._depth.value = depth + 1
        try:
            yield
        finally:
            self._depth.value = depth
            if depth == 0:
                self.driver.Context.pop()

    def active(self) -> contextlib.AbstractContextManager[None]:
        """The primary context made current in this thread: wrap TensorRT's calls in it (see the class)."""
        return self._current()

    def device(self) -> tuple[str, str]:
        dev = self.driver.Device(0)
        return dev.name(), "{}.{}".format(*dev.compute_capability())

    @property
    def integrated(self) -> bool:
        return bool(self.driver.Device(0).get_attribute(self.driver.device_attribute.INTEGRATED))

    def malloc(self, nbytes: int) -> int:
        with self._current():
            allocation = self.driver.mem_alloc(nbytes)
        self._allocations[int(allocation)] = allocation
        return int(allocation)

    def free(self, pointer: int) -> None:
        with self._current():
            self._allocations.pop(pointer).free()

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        with self._current():
            return self.driver.pagelocked_empty(shape, dtype)

    def mapped_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, int]:
        with self._current():
            array = self.driver.pagelocked_empty(shape, dtype, mem_flags=self.driver.host_alloc_flags.DEVICEMAP)
            return array, int(_host_allocation(array).get_device_pointer())

    def stream(self) -> int:
        with self._current():
            stream = self.driver.Stream()
        self._streams[stream.handle] = stream
        return stream.handle

    def copy_to_device(self, pointer: int, array: np.ndarray, stream: int) -> None:
        with self._current():
            self.driver.memcpy_htod_async(pointer, array, self._streams[stream])

    def copy_to_host(self, array: np.ndarray, pointer: int, stream: int) -> None:
        with self._current():
            self.driver.memcpy_dtoh_async(array, pointer, self._streams[stream])

    def synchronize(self, stream: int) -> None:
        with self._current():
            self._streams[stream].synchronize()

    def release(self, stream: int | None = None) -> None:
        if stream is not None:
            self._streams.pop(stream, None)


def cuda_api(log: Callable[[str], None] | None = None) -> CudaPython | PyCuda:
    """cuda-python if importable and built for this driver's CUDA major, else pycuda, else a clear error."""
    mismatch = None
    try:
        cuda_python = CudaPython()
    except ImportError:
        pass
    else:
        mismatch = cuda_python.driver_mismatch()
        if mismatch is None:
            return cuda_python
    from edgeseg.runtime.gpu import driver_cuda

    pip = f"pip install 'cuda-python=={driver_cuda()}.*'"
    try:
        pycuda = PyCuda()
    except ImportError:
        if mismatch is not None:
            raise CudaError(f"{mismatch}: {pip}") from None
        raise MissingDependencyError(
            f"running a TensorRT engine needs a CUDA binding (cuda-python or pycuda) for device memory: "
            f"{install_hint('cuda')}"
        ) from None
    if mismatch is not None and log is not None:
        log(f"note: {mismatch}; using pycuda ({pip} to use cuda-python)")
    return pycuda
