"""TensorRT backend for .engine / .plan files: named tensors, execute_async_v3, pinned host buffers.

Works with TensorRT ≥ 8.5 (the named-tensor API; TensorRT 10 removed bindings and execute_async_v2).
Device memory, pinned host memory and the stream come from cuda-python, or pycuda where that is what
is installed. Before deserializing, the engine's sidecar is checked against this TensorRT and GPU, and
an engine built for a DLA core is loaded on that core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError, MissingDependencyError, install_hint
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.engine_sidecar import check_compatible, read_sidecar
from edgeseg.runtime.metadata import ModelMetadata, output_classes


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError:
        hint = install_hint("tensorrt")
        raise MissingDependencyError(f"TensorRT is not installed; install it with: {hint}") from None
    return tensorrt


def _result_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype.kind == "f" else dtype


class TensorRTBackend(Backend):
    """A deserialized engine with one buffer per tensor at its largest shape, bound once.

    On an integrated GPU (a Jetson: the device reports `integrated`) the buffers are mapped pinned host
    memory that the GPU reads and writes in place; on a discrete GPU they are device memory, with pinned
    host staging buffers and async copies around each call.
    """

    def __init__(self, path: str | Path, *, trt: Any = None, cuda: Any = None, log: Any = print) -> None:
        path = Path(path)
        if not path.is_file():
            raise EdgesegError(f"engine not found: {path}")
        self.sidecar = read_sidecar(path)  # the model's metadata and the facts of the build (TensorRT, GPU, …)
        self.trt = trt or import_tensorrt()
        if cuda is None:
            from edgeseg.runtime.cuda import cuda_api

            cuda = cuda_api(log)
        self.cuda = cuda
        gpu, capability = cuda.device()
        for warning in check_compatible(path, self.sidecar, self.trt.__version__, gpu, capability):
            log(f"warning: {warning}")
        self.metadata = ModelMetadata.from_dict(self.sidecar, str(path))
        # The engine, its execution context, the buffers and the stream must belong to one CUDA context, and
        # every later TensorRT call must run under it: `active()` makes it current (in any thread).
        with cuda.active():
            self._open(path)

    def _open(self, path: Path) -> None:
        cuda = self.cuda
        self.engine = self._deserialize(path)
        self.context = self.engine.create_execution_context()
        self.stream = cuda.stream()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == self.trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        output_shape = [int(d) for d in self.engine.get_tensor_shape(self.output_names[0])]
        self.metadata.check_outputs(output_classes(output_shape), str(path))
        self.dtypes = {n: self._numpy_type(path, n) for n in names}
        self.shape_ranges = {n: self._input_range(n) for n in self.input_names}
        self.max_shapes = {n: self._max_shape(n) for n in names}
        self.zero_copy = bool(getattr(cuda, "integrated", False))
        self.device: dict[str, int] = {}
        self.host: dict[str, np.ndarray] = {}
        for name in names:
            if self.zero_copy:
                self.host[name], self.device[name] = cuda.mapped_empty(self.max_shapes[name], self.dtypes[name])
            else:
                self.host[name] = cuda.pinned_empty(self.max_shapes[name], self.dtypes[name])
                self.device[name] = cuda.malloc(self.host[name].nbytes)
            # TensorRT answers False (it does not raise) for a name that is no I/O tensor of the engine, or an
            # address it cannot use (not 256-byte aligned): the tensor would keep no address, or a stale one.
            if not self.context.set_tensor_address(name, self.device[name]):
                address = self.device[name]
                self.close()
                raise EdgesegError(
                    f"TensorRT refused the address {address:#x} for tensor {name} (set_tensor_address returned False)"
                )

    def _numpy_type(self, path: Path, name: str) -> np.dtype:
        dtype = self.engine.get_tensor_dtype(name)
        try:
            return np.dtype(self.trt.nptype(dtype))
        except TypeError:  # tensorrt.nptype's answer for BF16, FP8, INT4
            kind = getattr(dtype, "name", dtype)
            raise EdgesegError(
                f"{path.name}: tensor {name} is {kind}, which numpy has no type for; build the engine from an ONNX "
                f"file with FP32 or FP16 inputs and outputs (edgeseg export {self.sidecar.get('onnx', 'model.onnx')})"
            ) from None

    def _deserialize(self, path: Path) -> Any:
        """Deserialize on the DLA core the engine was built for (as trtexec --useDLACore does)."""
        logger = self.trt.Logger(self.trt.Logger.WARNING)
        self._runtime = self.trt.Runtime(logger)
        onnx_name = self.sidecar.get("onnx", "model.onnx")
        dla_core = self.sidecar.get("dla_core")
        if dla_core is not None:
            cores = self._runtime.num_DLA_cores
            if dla_core >= cores:
                raise EdgesegError(
                    f"{path} was built for DLA core {dla_core}, but this device has {cores} DLA cores; rebuild it "
                    f"with `edgeseg export {onnx_name}` (without --dla-core, or with a core this device has)"
                )
            self._runtime.DLA_core = dla_core
        engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise EdgesegError(f"TensorRT could not load {path}; rebuild it with `edgeseg export {onnx_name}`")
        return engine

    def _input_range(self, name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The smallest and largest shape this input takes: its fixed shape, or its profile's min and max."""
        shape = tuple(int(d) for d in self.engine.get_tensor_shape(name))
        if -1 not in shape:
            return shape, shape
        low, _, high = self.engine.get_tensor_profile_shape(name, 0)
        return tuple(int(d) for d in low), tuple(int(d) for d in high)

    def _max_shape(self, name: str) -> tuple[int, ...]:
        if name in self.shape_ranges:
            return self.shape_ranges[name][1]
        shape = tuple(int(d) for d in self.engine.get_tensor_shape(name))
        batch = max(high[0] for _, high in self.shape_ranges.values()) if self.shape_ranges else 1
        return tuple(batch if d == -1 else d for d in shape)

    def _set_input(self, name: str, array: np.ndarray) -> None:
        low, high = self.shape_ranges[name]
        shape = tuple(int(d) for d in array.shape)
        if len(shape) != len(high) or any(not lo <= d <= hi for d, lo, hi in zip(shape, low, high)):
            takes = f"{high}" if low == high else f"{low} to {high}"
            raise EdgesegError(f"input {name} is {shape}; this engine takes {takes}")
        # TensorRT answers False (it does not raise) for a shape outside its profile.
        if not self.context.set_input_shape(name, shape):
            raise EdgesegError(f"TensorRT refused the input shape {shape} for {name} (this engine takes {low}…{high})")
        staging = self.host[name].reshape(-1)[: array.size].reshape(shape)
        np.copyto(staging, array, casting="same_kind")
        if not self.zero_copy:
            self.cuda.copy_to_device(self.device[name], staging, self.stream)

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self.cuda.active():
            return self._infer(inputs)

    def _infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name in self.input_names:
            self._set_input(name, inputs[name])
        if not self.context.execute_async_v3(self.stream):
            raise EdgesegError("TensorRT execution failed (execute_async_v3 returned False)")
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            view = self.host[name].reshape(-1)[: int(np.prod(shape))].reshape(shape)
            if not self.zero_copy:
                self.cuda.copy_to_host(view, self.device[name], self.stream)
            outputs[name] = view
        self.cuda.synchronize(self.stream)
        # Copies: the host buffers are overwritten by the next call, callers may keep the results. Logits come back
        # as float32 (FP16 engines may output half), a class map keeps its int32.
        return {name: np.array(view, dtype=_result_dtype(view.dtype)) for name, view in outputs.items()}

    def close(self) -> None:
        if getattr(self, "device", None) is None:
            return
        with self.cuda.active():
            if not self.zero_copy:  # mapped buffers are host memory: release() frees them
                for pointer in self.device.values():
                    self.cuda.free(pointer)
            self.cuda.release(self.stream)
            self.device = None
            self.context = self.engine = self._runtime = None

    @property
    def max_batch(self) -> int | None:
        """The batch axis's upper bound: the profile's maximum for a dynamic batch, else the fixed batch."""
        return self.shape_ranges[self.input_names[0]][1][0]
