"""Test double at the hardware boundary: a fake `tensorrt` module (the CUDA doubles are in fake_cuda.py).

TensorRT cannot be installed on the CI machines (PyPI holds placeholders only) and there is no GPU.
These doubles implement the API surface edgeseg's TensorRT code calls, record every call, and reject and
return what the real libraries do (checked against NVIDIA/TensorRT's python/src/infer/pyCore.cpp, pyInt8.cpp
and include/NvInfer*.h at 8.5, 8.6, 10.3 and 11.1, and against pycuda's documented driver API):

- NetworkDefinitionCreationFlag has the values of the version asked for (TensorRT 11: STRONGLY_TYPED = 0,
  no EXPLICIT_BATCH); TensorRT 11 has no FP16/INT8 builder flags.
- A network with a -1 dimension and no optimization profile does not build; neither does a profile whose
  shapes disagree with a fixed dimension of the network or are not min ≤ opt ≤ max.
- An exception raised in a calibrator callback is printed and swallowed, as the C++ trampoline does:
  `get_batch` then counts as "no more batches".
- `set_input_shape` returns False (and changes nothing) for a shape outside the profile.
- `Runtime.DLA_core` defaults to -1 and setting it does nothing on a device without DLA cores.
- The parsed network holds the layers TensorRT makes of edgeseg's class-map export; their precision
  requests are honoured only under OBEY_PRECISION_CONSTRAINTS (fake_tensorrt_network.py says what else).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .fake_cuda import FakeCuda
from .fake_tensorrt_network import QUANTIZABLE, FakeNetwork, chosen, class_map_layers

__all__ = ["FakeCuda", "FakeTensorRT"]


class _Calibrator:
    """Stands in for trt.IInt8EntropyCalibrator2 (a base class edgeseg subclasses)."""

    def __init__(self) -> None:
        pass


def _trampoline(calibrator: Any, method: str, default: Any, *args: Any) -> Any:
    """What pyInt8.cpp does around every Python override: an exception is printed and becomes `default`."""
    try:
        return getattr(calibrator, method)(*args)
    except Exception as exc:
        print(f"[ERROR] Exception caught in {method}(): {exc}", file=sys.stderr)
        return default


class FakeProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

    def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
        self.shapes[name] = (tuple(low), tuple(opt), tuple(high))


def profile_error(profile: FakeProfile, name: str, network_shape: tuple[int, ...]) -> str | None:
    """Why TensorRT's builder rejects `profile` for the input `name` of that shape, or None."""
    if name not in profile.shapes:
        return f"optimization profile is missing values for input {name}"
    low, opt, high = profile.shapes[name]
    if not len(low) == len(opt) == len(high) == len(network_shape):
        return f"{name}: profile rank does not match the network's {network_shape}"
    for d, lo, op, hi in zip(network_shape, low, opt, high):
        if not 0 < lo <= op <= hi:
            return f"{name}: profile must satisfy 0 < min <= opt <= max, got {profile.shapes[name]}"
        if d != -1 and not lo == op == hi == d:
            return f"{name}: profile {profile.shapes[name]} does not match the network's fixed dims {network_shape}"
    return None


class FakeConfig:
    def __init__(self, trt: FakeTensorRT) -> None:
        self.trt = trt
        self.flags: list[str] = []
        self.pool_limits: dict[str, int] = {}
        self.profiles: list[FakeProfile] = []
        self.int8_calibrator = None
        self.default_device_type = "GPU"
        self.DLA_core = -1
        self.cache_read: bytes | None = None
        self._cache = b""

    def set_memory_pool_limit(self, pool: str, size: int) -> None:
        self.pool_limits[pool] = size

    def set_flag(self, flag: str) -> None:
        self.flags.append(flag)

    def add_optimization_profile(self, profile: FakeProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_calibration_profile(self, profile: FakeProfile) -> bool:
        self.calibration_profile = profile
        return True

    def create_timing_cache(self, data: bytes) -> SimpleNamespace:
        return SimpleNamespace(data=bytes(data))

    def set_timing_cache(self, cache: SimpleNamespace, ignore_mismatch: bool) -> bool:
        # A cache records the TensorRT version and device it was made on; a foreign one is refused unless
        # ignore_mismatch, which makes the builder use it anyway.
        foreign = cache.data and not cache.data.startswith(self.trt.cache_stamp())
        if foreign and not ignore_mismatch:
            return False
        self.cache_read = cache.data
        self._cache = cache.data or self.trt.cache_stamp()
        return True

    def get_timing_cache(self) -> SimpleNamespace:
        return SimpleNamespace(serialize=lambda: self._cache + b"+tactics")


class FakeBuilder:
    def __init__(self, trt: FakeTensorRT) -> None:
        self.trt = trt
        self.num_DLA_cores = trt.dla_cores

    def create_network(self, flags: int) -> FakeNetwork:
        self.trt.network_flags = flags
        self.trt.network = FakeNetwork(self.trt, (-1 if self.trt.dynamic else 1, 3, 32, 32))
        return self.trt.network

    def create_builder_config(self) -> FakeConfig:
        self.trt.config = FakeConfig(self.trt)
        return self.trt.config

    def create_optimization_profile(self) -> FakeProfile:
        return FakeProfile()

    def build_serialized_network(self, network: FakeNetwork, config: FakeConfig) -> bytes | None:
        if self.trt.fail_build:
            self.trt.error("fail_build")
            return None
        shape = tuple(network.get_input(0).shape)
        if -1 in shape and not config.profiles:
            self.trt.error("Network has dynamic or shape inputs, but no optimization profile has been defined.")
            return None
        for profile in config.profiles:
            problem = profile_error(profile, network.get_input(0).name, shape)
            if problem:
                self.trt.error(problem)
                return None
        calibrator = config.int8_calibrator
        if calibrator is not None and "INT8" in config.flags and not self._calibrate(calibrator):
            return None
        self.trt.built_precisions = {layer.name: chosen(layer, config.flags) for layer in network.layers}
        return b"FAKE-ENGINE flags=%d" % self.trt.network_flags

    def _calibrate(self, calibrator: Any) -> bool:
        """TensorRT's calibration: read the cache, else feed batches until get_batch says there are no more."""
        self.trt.calibration_batches = 0
        if _trampoline(calibrator, "read_calibration_cache", None):
            return True
        _trampoline(calibrator, "get_batch_size", -1)
        while _trampoline(calibrator, "get_batch", None, ["images"]):
            self.trt.calibration_batches += 1
        if self.trt.calibration_batches == 0:
            self.trt.error("Calibration failure occurred with no scaling factors detected.")
            return False
        _trampoline(calibrator, "write_calibration_cache", None, b"calibration-table")
        return True


class FakeParser:
    def __init__(self, trt: FakeTensorRT) -> None:
        self.trt, self.num_errors = trt, 0

    def parse_from_file(self, path: str) -> bool:
        self.trt.parsed = Path(path)
        if not Path(path).is_file() or Path(path).read_bytes()[:4] == b"junk":
            self.num_errors = 1
            return False
        network = self.trt.network
        network.layers = class_map_layers(self.trt, network.get_input(0))
        network.outputs = [network.layers[-1].get_output(0)]
        return True

    def get_error(self, index: int) -> str:
        return "In node 0 (parseGraph): INVALID_GRAPH"


class FakeEngine:
    """A deserialized engine: images (N×3×H×W float32) → logits (N×2×H×W float32), class c = (c+1)·channel 0.

    Built from a `--confidence` class-map export (the double made with confidence=True), it returns what that
    graph does instead: classes (N×H×W int32, the argmax of those logits) and confidence (N×H×W float32, their
    top softmax probability), in the graph's output order. Batch is dynamic (profile 1…4, opt 2) when the
    double is made with dynamic=True.
    """

    PROFILE = (1, 2, 4)

    def __init__(self, trt: FakeTensorRT, size: tuple[int, int] = (8, 8)) -> None:
        self.trt, self.size = trt, size
        self.names = ("images", "classes", "confidence") if trt.confidence else ("images", "logits")
        self.num_io_tensors = len(self.names)
        batch = -1 if trt.dynamic else 1
        self.shapes = {"images": (batch, 3, *size), "logits": (batch, 2, *size)}
        self.shapes.update(classes=(batch, *size), confidence=(batch, *size))

    def get_tensor_name(self, index: int) -> str:
        return self.names[index]

    def get_tensor_mode(self, name: str) -> str:
        return "INPUT" if name == "images" else "OUTPUT"

    def get_tensor_dtype(self, name: str) -> str:
        return "int32" if name == "classes" else "float32"

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
    def __init__(self, engine: FakeEngine) -> None:
        self.engine, self.addresses = engine, {}
        static = engine.shapes["images"]
        self.input_shape: tuple[int, ...] | None = None if -1 in static else static

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.addresses[name] = address
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

    def execute_async_v3(self, stream: int) -> bool:
        if self.input_shape is None or set(self.addresses) != set(self.engine.names):
            return False  # TensorRT: input shapes or tensor addresses not specified
        memory = self.engine.trt.cuda.memory
        n = int(np.prod(self.input_shape))
        raw = memory[self.addresses["images"]][: 4 * n].tobytes()
        images = np.frombuffer(raw, np.float32).reshape(self.input_shape)
        logits = np.stack([images[:, 0] * (c + 1) for c in range(2)], axis=1).astype(np.float32)
        outputs = {"logits": logits}
        if self.engine.trt.confidence:
            shifted = np.exp(logits - logits.max(1, keepdims=True))
            outputs = {"classes": logits.argmax(1).astype(np.int32), "confidence": 1 / shifted.sum(1)}
        for name, array in outputs.items():
            data = np.ascontiguousarray(array, self.engine.get_tensor_dtype(name))
            memory[self.addresses[name]][: data.nbytes] = np.frombuffer(data.tobytes(), np.uint8)
        self.engine.trt.executions += 1
        return True


class FakeRuntime:
    """trt.Runtime: DLA_core defaults to -1; setting it does nothing on a device without DLA cores."""

    def __init__(self, trt: FakeTensorRT) -> None:
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


def _creation_flags(major: int) -> SimpleNamespace:
    """NetworkDefinitionCreationFlag as each TensorRT declares it (include/NvInfer.h)."""
    if major < 10:
        return SimpleNamespace(EXPLICIT_BATCH=0, EXPLICIT_PRECISION=1)
    if major == 10:
        return SimpleNamespace(EXPLICIT_BATCH=0, STRONGLY_TYPED=1)
    return SimpleNamespace(STRONGLY_TYPED=0)  # 11: always strongly typed, EXPLICIT_BATCH removed


class FakeTensorRT:
    """The `tensorrt` module as far as edgeseg uses it, at a chosen version."""

    def __init__(
        self,
        version: str = "10.3.0",
        dla_cores: int = 0,
        dynamic: bool = False,
        fail_build: bool = False,
        cuda: Any = None,
        engine_loads: bool = True,
        capability: str = "8.7",
        confidence: bool = False,
    ):
        self.__version__ = version
        major = int(version.split(".")[0])
        self.dla_cores, self.dynamic, self.fail_build, self.capability = dla_cores, dynamic, fail_build, capability
        self.confidence = confidence  # the engine of a `--confidence` class-map export (see FakeEngine)
        self.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=2: None})
        self.NetworkDefinitionCreationFlag = _creation_flags(major)
        self.MemoryPoolType = SimpleNamespace(WORKSPACE="WORKSPACE")
        precision_flags = {} if major >= 11 else {k: k for k in ("FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS")}
        self.BuilderFlag = SimpleNamespace(GPU_FALLBACK="GPU_FALLBACK", **precision_flags)
        self.DeviceType = SimpleNamespace(GPU="GPU", DLA="DLA")
        self.DataType = SimpleNamespace(FLOAT="FLOAT", HALF="HALF", INT8="INT8", INT32="INT32")
        self.float32, self.float16, self.int8, self.int32 = "FLOAT", "HALF", "INT8", "INT32"
        self.LayerType = SimpleNamespace(**{k: k for k in (*QUANTIZABLE, "TOPK", "SHUFFLE", "IDENTITY", "CONSTANT")})
        self.built_precisions: dict[str, tuple[str, list[str]]] = {}
        if major < 11:
            self.IInt8EntropyCalibrator2 = _Calibrator
        self.network_flags: int | None = None
        self.network: FakeNetwork | None = None
        self.config: FakeConfig | None = None
        self.errors: list[str] = []
        self.cuda, self.engine_loads, self.executions = cuda, engine_loads, 0
        self.deserialized_on_dla_core: int | None = None
        self.TensorIOMode = SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
        self.nptype = np.dtype

    def error(self, message: str) -> None:
        """What TensorRT's logger prints for an API error; the call that caused it has no effect."""
        self.errors.append(message)
        print(f"[TRT] [E] {message}", file=sys.stderr)

    def strongly_typed_flag(self) -> bool:
        bit = getattr(self.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        major = int(self.__version__.split(".")[0])
        return major >= 11 or (bit is not None and bool((self.network_flags or 0) & (1 << bit)))

    def cache_stamp(self) -> bytes:
        return f"trt{self.__version__}-sm{self.capability}:".encode()

    def Runtime(self, logger: Any) -> FakeRuntime:
        self.runtime = FakeRuntime(self)
        return self.runtime

    def Builder(self, logger: Any) -> FakeBuilder:
        return FakeBuilder(self)

    def OnnxParser(self, network: Any, logger: Any) -> FakeParser:
        return FakeParser(self)
