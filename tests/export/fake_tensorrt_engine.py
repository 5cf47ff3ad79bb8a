"""Test double at the hardware boundary: TensorRT's runtime side (trt.Runtime, ICudaEngine, IExecutionContext).

Part of the fake `tensorrt` module (fake_tensorrt.py). Faithful to NVIDIA/TensorRT's python/src/infer/pyCore.cpp
and include/NvInferRuntime.h (release/8.5, 10.3, 11.0) and python/packaging/…/tensorrt/__init__.py:
- The engine and each execution context belong to the CUDA context current when they were made (TensorRT calls
  the CUDA runtime, so: the thread's current context, else the primary one, fake_gpu.FakeGpu). `execute_async_v3`
  under another context, or with a stream or a tensor address of another context, fails as CUDA's "invalid
  resource handle" does: TensorRT logs the error and returns False.
- `set_tensor_address(name, memory)` returns False for a name that is no I/O tensor of the engine, and for an
  address that is not 256-byte aligned (setTensorAddress: "Return false if the provided name does not map to an
  input or output tensor"; "The pointer must have at least 256-byte alignment").
- `execute_async_v3(stream_handle)` is bound with `size_t streamHandle`: it takes the stream as an int (pycuda's
  `Stream.handle`, cuda-python's native handle), not a pycuda Stream object.
- `set_input_shape` returns False (and changes nothing) for a shape outside the profile.
- `Runtime.DLA_core` defaults to -1 and setting it does nothing on a device without DLA cores.
- `nptype` maps FLOAT, HALF, INT8, INT32, BOOL, UINT8 (and INT64 from 10.0) and raises TypeError for the types
  numpy has no equivalent for (BF16, FP8, INT4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUMPY_TYPES = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_}


def nptype(major: int, dtype: str) -> type:
    """tensorrt.nptype of that TensorRT version."""
    mapping = {**NUMPY_TYPES, "UINT8": np.uint8, **({"INT64": np.int64} if major >= 10 else {})}
    if dtype in mapping:
        return mapping[dtype]
    raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")


class FakeEngine:
    """A deserialized engine: images (N×3×H×W float32) → logits (N×2×H×W, class c = (c+1)·channel 0, in the
    double's `output_dtype`), or, with output="classes", the class map of those logits (N×H×W int32), the
    default output of edgeseg's export. The batch is the double's fixed `batch`, or dynamic (profile 1…4,
    opt 2) when the double is made with dynamic=True. Made from a `--confidence` export (confidence=True), it also
    returns `confidence` (N×H×W float32: the top softmax probability of those logits), in the graph's order."""

    PROFILE = (1, 2, 4)

    def __init__(self, trt: Any, size: tuple[int, int] = (8, 8)) -> None:
        self.trt, self.size = trt, size
        self.owner = trt.gpu.runtime_current()
        self.output = trt.output
        self.names = ("images", self.output, *(("confidence",) if trt.confidence else ()))
        self.num_io_tensors = len(self.names)
        batch = -1 if trt.dynamic else trt.batch
        out_shape = (batch, *size) if self.output == "classes" else (batch, 2, *size)
        self.shapes = {"images": (batch, 3, *size), self.output: out_shape}
        self.dtypes = {"images": "FLOAT", self.output: "INT32" if self.output == "classes" else trt.output_dtype}
        if trt.confidence:
            self.shapes["confidence"], self.dtypes["confidence"] = (batch, *size), "FLOAT"

    def get_tensor_name(self, index: int) -> str:
        return self.names[index]

    def get_tensor_mode(self, name: str) -> str:
        return "INPUT" if name == "images" else "OUTPUT"

    def get_tensor_dtype(self, name: str) -> str:
        return self.dtypes[name]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[name]

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
        if name != "images" or profile != 0:
            raise RuntimeError(f"no profile {profile} for input {name}")
        if not self.trt.dynamic:
            return [self.shapes["images"]] * 3
        return [(b, 3, *self.size) for b in self.PROFILE]

    def create_execution_context(self) -> FakeContext:
        return FakeContext(self)


class FakeContext:
    """IExecutionContext, bound to the CUDA context current when it was made."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine, self.addresses = engine, {}
        self.trt = engine.trt
        self.owner = self.trt.gpu.runtime_current()
        static = engine.shapes["images"]
        self.input_shape: tuple[int, ...] | None = None if -1 in static else static

    def set_tensor_address(self, name: str, memory: int) -> bool:
        if not isinstance(memory, int):
            raise TypeError("set_tensor_address(): incompatible function arguments (memory: int)")
        if name not in self.engine.shapes:
            self.trt.error(f"setTensorAddress: {name} is not the name of an input or output tensor")
            return False
        if memory % 256:
            self.trt.error(f"setTensorAddress: the address {memory:#x} of {name} is not 256-byte aligned")
            return False
        self.addresses[name] = memory
        return True

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        """False for a non-input, or a shape outside the profile in any dimension, as IExecutionContext does."""
        if name != "images":
            return False
        low, _, high = self.engine.get_tensor_profile_shape(name, 0)
        shape = tuple(int(d) for d in shape)
        if len(shape) != len(low) or any(not lo <= d <= hi for d, lo, hi in zip(shape, low, high)):
            return False
        self.input_shape = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        batch = self.input_shape[0] if self.input_shape else -1
        return (batch, *self.engine.shapes[name][1:])

    def _cuda_problem(self, stream: int) -> str | None:
        """What CUDA would refuse about running now: objects of another context, or buffers too small."""
        gpu, current = self.trt.gpu, self.trt.gpu.runtime_current()
        for what, owner in (("the engine", self.engine.owner), ("the execution context", self.owner)):
            if owner is not current:
                return f"{what} belongs to {owner}, this thread runs {current}"
        handles = [] if stream == 0 else [(stream, None)]  # 0: the legacy default stream, valid in any context
        for name, address in self.addresses.items():
            shape = self.get_tensor_shape(name)
            itemsize = np.dtype(nptype(10, self.engine.dtypes[name])).itemsize
            handles.append((address, int(np.prod(shape)) * itemsize))
        for handle, size in handles:
            problem = gpu.problem(handle, size)
            if problem:
                return problem
        return None

    def execute_async_v3(self, stream_handle: int) -> bool:
        if not isinstance(stream_handle, int) or isinstance(stream_handle, bool):
            raise TypeError(
                "execute_async_v3(): incompatible function arguments. The following argument types are supported:\n"
                "    1. (self: tensorrt.IExecutionContext, stream_handle: int) -> bool"
            )
        if self.input_shape is None or set(self.addresses) != set(self.engine.shapes):
            return False  # TensorRT: input shapes or tensor addresses not specified
        problem = self._cuda_problem(stream_handle)
        if problem:
            self.trt.error(f"[executionContext.cpp::enqueueV3] Error Code 1: Cuda Runtime ({problem})")
            return False
        memory = self.trt.gpu.memory
        n = int(np.prod(self.input_shape))
        raw = memory[self.addresses["images"]][: 4 * n].tobytes()
        images = np.frombuffer(raw, np.float32).reshape(self.input_shape)
        logits = np.stack([images[:, 0] * (c + 1) for c in range(2)], axis=1)
        output = self.engine.output
        if output == "classes":
            results = {output: logits.argmax(axis=1).astype(np.int32)}
        else:
            results = {output: logits.astype(nptype(10, self.engine.dtypes[output]))}
        if "confidence" in self.engine.shapes:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            results["confidence"] = (1 / shifted.sum(axis=1)).astype(np.float32)
        for name, result in results.items():
            memory[self.addresses[name]][: result.nbytes] = np.frombuffer(result.tobytes(), np.uint8)
        self.trt.executions += 1
        return True


class FakeRuntime:
    """trt.Runtime: DLA_core defaults to -1; setting it does nothing on a device without DLA cores."""

    def __init__(self, trt: Any) -> None:
        self.trt = trt
        self.num_DLA_cores = trt.dla_cores
        self._dla_core = -1

    @property
    def DLA_core(self) -> int:
        return self._dla_core

    @DLA_core.setter
    def DLA_core(self, core: int) -> None:
        if self.num_DLA_cores:
            self._dla_core = core

    def deserialize_cuda_engine(self, data: bytes) -> FakeEngine | None:
        self.trt.deserialized_on_dla_core = self._dla_core
        return FakeEngine(self.trt) if self.trt.engine_loads else None
