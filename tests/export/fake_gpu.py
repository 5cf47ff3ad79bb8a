"""Test double at the hardware boundary: one simulated GPU, its memory and its CUDA contexts.

Every CUDA double (fake_cuda.FakeCuda, fake_pycuda.FakePyCudaDriver, fake_cudart.FakeCudart) and the TensorRT
double (fake_tensorrt.FakeTensorRT) share one `FakeGpu`, so the rules CUDA applies across them hold here too:

- Device memory, mapped host memory and streams belong to the CUDA context that was current when they were
  made (CUDA Driver API, "Context Management": resources are per context; a stream or an allocation of one
  context is an invalid handle / an invalid address in another).
- The context stack is per thread. The driver API (pycuda) needs a current context; the runtime API (cudart,
  which cuda-python wraps and TensorRT calls) uses the current one, or, where none is current, makes the
  device's primary context current in that thread and uses it (cudaStreamCreate's docstring in cuda-bindings
  12.9.10 and 13.4.4: "If no context is current to the calling host thread, then the primary context for a
  device is selected, made current to the calling thread, and initialized").
- Allocations are 256-byte aligned (cudaMalloc guarantees it; TensorRT requires it of every tensor address,
  include/NvInferRuntime.h 10.3, IExecutionContext::setTensorAddress).
"""

from __future__ import annotations

import threading

import numpy as np


class FakeCudaContext:
    """A CUDA context (CUcontext): a token that memory and streams belong to."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<CUDA context {self.name}>"


class FakeGpu:
    """Device 0: memory (device address → its bytes), which context owns each address and stream handle, the
    primary context, and each thread's stack of current contexts."""

    ALIGNMENT = 256

    def __init__(self) -> None:
        self.primary = FakeCudaContext("primary")
        self.memory: dict[int, np.ndarray] = {}  # device address → uint8 buffer (for mapped memory: the host's)
        self.owner: dict[int, FakeCudaContext] = {}  # device address or stream handle → its context
        self._local = threading.local()
        self._next = 0x10000

    def address(self) -> int:
        """A fresh, 4096-byte aligned device address (what cudaMalloc's allocator hands out)."""
        self._next += 0x1000
        return self._next

    # --- contexts ---

    def stack(self) -> list[FakeCudaContext]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def current(self) -> FakeCudaContext | None:
        """The context current in this thread (cuCtxGetCurrent), or None."""
        stack = self.stack()
        return stack[-1] if stack else None

    def runtime_current(self) -> FakeCudaContext:
        """The context a runtime-API call (cudart, TensorRT) runs under in this thread: the current one, else the
        primary context, which the runtime then makes current here."""
        if not self.stack():
            self.stack().append(self.primary)
        return self.stack()[-1]

    # --- memory and streams ---

    def allocate(self, nbytes: int, context: FakeCudaContext) -> int:
        pointer = self.address()
        self.memory[pointer] = np.zeros(nbytes, np.uint8)
        self.owner[pointer] = context
        return pointer

    def alias(self, pointer: int, host: np.ndarray, context: FakeCudaContext) -> None:
        """Map host memory (a uint8 view of it) at a device address owned by `context`."""
        self.memory[pointer] = host
        self.owner[pointer] = context

    def release(self, pointer: int) -> None:
        self.memory.pop(pointer, None)
        self.owner.pop(pointer, None)

    def stream(self, context: FakeCudaContext) -> int:
        handle = self.address()
        self.owner[handle] = context
        return handle

    def problem(self, handle: int, size: int | None = None) -> str | None:
        """Why the current runtime context cannot use this address (or stream handle), or None."""
        context = self.runtime_current()
        owner = self.owner.get(handle)
        if owner is None:
            return f"{handle:#x} is not a live allocation or stream (invalid resource handle)"
        if owner is not context:
            return f"{handle:#x} belongs to {owner}, not to {context} (invalid resource handle)"
        if size is not None and handle in self.memory and self.memory[handle].nbytes < size:
            allocated = self.memory[handle].nbytes
            return f"reading {size} bytes at {handle:#x}, an allocation of {allocated} (illegal address)"
        return None
