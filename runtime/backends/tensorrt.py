"""TensorRT backend for .engine / .plan files: named tensors, execute_async_v3, pinned host buffers.

Works with TensorRT ≥ 8.5 (the named-tensor API; TensorRT 10 removed bindings and execute_async_v2).
Device memory, pinned host memory and the stream come from cuda-python, or pycuda where that is what
is installed. Before deserializing, the engine's sidecar is checked against this TensorRT and GPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError, MissingDependencyError
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.engine_sidecar import check_compatible, read_sidecar


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError:
        raise MissingDependencyError(
            "TensorRT is not installed: it comes with JetPack on a Jetson (use a venv with "
            "--system-site-packages) and as `pip install tensorrt` on an x86 machine with an NVIDIA GPU"
        ) from None
    return tensorrt


class TensorRTBackend(Backend):
    def __init__(self, path: str | Path, *, trt: Any = None, cuda: Any = None, log: Any = print) -> None:
        path = Path(path)
        if not path.is_file():
            raise EdgesegError(f"engine not found: {path}")
        self.sidecar = read_sidecar(path)
        self.trt = trt or import_tensorrt()
        if cuda is None:
            from edgeseg.runtime.cuda import cuda_api

            cuda = cuda_api()
        self.cuda = cuda
        gpu, capability = cuda.device()
        for warning in check_compatible(path, self.sidecar, self.trt.__version__, gpu, capability):
            log(f"warning: {warning}")
        logger = self.trt.Logger(self.trt.Logger.WARNING)
        self._runtime = self.trt.Runtime(logger)
        self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            onnx_name = self.sidecar.get("onnx", "model.onnx")
            raise EdgesegError(f"TensorRT could not load {path}; rebuild it with `edgeseg export {onnx_name}`")
        self.context = self.engine.create_execution_context()
        self.stream = cuda.stream()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == self.trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        self.dtypes = {n: np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.max_shapes = {n: self._max_shape(n, is_input[n]) for n in names}
        # One device buffer and one pinned host buffer per tensor, at the largest shape, bound once.
        self.device: dict[str, int] = {}
        self.host: dict[str, np.ndarray] = {}
        for name in names:
            self.host[name] = cuda.pinned_empty(self.max_shapes[name], self.dtypes[name])
            self.device[name] = cuda.malloc(self.host[name].nbytes)
            self.context.set_tensor_address(name, self.device[name])

    def _max_shape(self, name: str, is_input: bool) -> tuple[int, ...]:
        shape = tuple(self.engine.get_tensor_shape(name))
        if -1 not in shape:
            return shape
        if is_input:  # dynamic batch: the optimization profile's largest shape
            return tuple(self.engine.get_tensor_profile_shape(name, 0)[2])
        batch = max(self._max_shape(n, True)[0] for n in self.input_names) if self.input_names else 1
        return tuple(batch if d == -1 else d for d in shape)

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name in self.input_names:
            array = inputs[name]
            limit = self.max_shapes[name]
            if array.ndim != len(limit) or any(a > m for a, m in zip(array.shape, limit)):
                raise EdgesegError(f"input {name} is {array.shape}; this engine takes at most {limit}")
            self.context.set_input_shape(name, array.shape)
            staging = self.host[name].reshape(-1)[: array.size].reshape(array.shape)
            np.copyto(staging, array, casting="same_kind")
            self.cuda.copy_to_device(self.device[name], staging, self.stream)
        if not self.context.execute_async_v3(self.stream):
            raise EdgesegError("TensorRT execution failed (execute_async_v3 returned False)")
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            view = self.host[name].reshape(-1)[: int(np.prod(shape))].reshape(shape)
            self.cuda.copy_to_host(view, self.device[name], self.stream)
            outputs[name] = view
        self.cuda.synchronize(self.stream)
        # Copies: the pinned buffers are overwritten by the next call, callers may keep the results.
        return {name: np.array(view, dtype=np.float32) for name, view in outputs.items()}

    def close(self) -> None:
        if getattr(self, "device", None) is None:
            return
        for pointer in self.device.values():
            self.cuda.free(pointer)
        self.cuda.release(self.stream)
        self.device = None
        self.context = self.engine = self._runtime = None
