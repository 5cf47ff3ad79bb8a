"""Test double at the hardware boundary: a fake `tensorrt` module (its runtime side is fake_tensorrt_engine.py,
the parsed network fake_tensorrt_network.py, the CUDA doubles fake_cuda.py and the files it names).

TensorRT cannot be installed on the CI machines (PyPI holds placeholders only) and there is no GPU.
These doubles implement the API surface edgeseg's TensorRT code calls, record every call, and reject and
return what the real libraries do (checked against NVIDIA/TensorRT's python/src/infer/pyCore.cpp, pyInt8.cpp,
python/docstrings/infer/pyCoreDoc.h and include/NvInfer*.h on release/8.5, 8.6, 10.0, 10.1, 10.3, 10.14, 11.0,
11.1, and against pycuda's and cuda-python's sources, see fake_pycuda.py and fake_cudart.py):

- NetworkDefinitionCreationFlag has the values of the version asked for (TensorRT 11: STRONGLY_TYPED = 0,
  no EXPLICIT_BATCH); TensorRT 11 has no FP16/INT8/OBEY_PRECISION_CONSTRAINTS builder flags.
- TensorRT 11's IBuilderConfig has neither `int8_calibrator` nor `set_calibration_profile` (pyCore.cpp 11.0
  binds neither); it is a pybind11 class without dynamic attributes, so assigning either raises AttributeError.
- `IOptimizationProfile.set_shape` raises RuntimeError ("Shape provided for opt is inconsistent with other
  shapes.") when min, opt and max differ in rank or are not 0 ≤ min ≤ opt ≤ max (pyCore.cpp opt_profile_set_shape
  over IOptimizationProfile::setDimensions). A network with a -1 dimension and no optimization profile does not
  build; neither does a profile whose shapes disagree with a fixed dimension of the network.
- `create_timing_cache(blob)` returns None for a blob TensorRT cannot read (createTimingCache's nullptr through
  pybind11); `set_timing_cache` takes `ITimingCache const&`, so None raises TypeError; a cache of another
  TensorRT or device is refused (False) unless ignore_mismatch.
- An exception raised in a calibrator callback is printed and swallowed, as the C++ trampoline does (pyInt8.cpp):
  `get_batch` then counts as "no more batches". Calibration reads the network input's shape from each pointer
  `get_batch` returns (its fixed shape, or the calibration profile's opt shape, which a dynamic network must
  have): so it needs one pointer per network input (the trampoline memcpy's nbBindings of them) to device memory
  of this thread's CUDA context holding that many bytes. The shape, not `get_batch_size`, sizes the read:
  NvInfer.h 8.6 asks that "the batch size of the input must match the batch size returned by getBatchSize()",
  and an explicit-batch network's input has its own batch (NVIDIA/TensorRT issue 2978 reports calibration
  results that do not change with getBatchSize).
- The parsed network holds the layers TensorRT makes of edgeseg's class-map export; their precision
  requests are honoured only under OBEY_PRECISION_CONSTRAINTS (fake_tensorrt_network.py says what else).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .fake_cuda import FakeCuda
from .fake_gpu import FakeGpu
from .fake_tensorrt_engine import FakeContext, FakeEngine, FakeRuntime, nptype
from .fake_tensorrt_network import QUANTIZABLE, FakeNetwork, chosen, class_map_layers

__all__ = ["FakeContext", "FakeCuda", "FakeEngine", "FakeRuntime", "FakeTensorRT"]


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
        """setDimensions for kMIN, kOPT, kMAX in turn, each checked against those set before it."""
        shapes: list[tuple[int, ...]] = []
        for selector, dims in zip(("min", "opt", "max"), (low, opt, high)):
            dims = tuple(int(d) for d in dims)
            ordered = all(len(dims) == len(s) and all(a <= b for a, b in zip(s, dims)) for s in shapes)
            if not ordered or any(d < 0 for d in dims):
                raise RuntimeError(f"Shape provided for {selector} is inconsistent with other shapes.")
            shapes.append(dims)
        self.shapes[name] = tuple(shapes)


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
    """IBuilderConfig of TensorRT 11: no calibrator (assigning an attribute it lacks raises AttributeError)."""

    ATTRIBUTES = frozenset(
        {"trt", "flags", "pool_limits", "profiles", "default_device_type", "DLA_core", "cache_read", "_cache"}
    )

    def __init__(self, trt: FakeTensorRT) -> None:
        self.trt = trt
        self.flags: list[str] = []
        self.pool_limits: dict[str, int] = {}
        self.profiles: list[FakeProfile] = []
        self.default_device_type = "GPU"
        self.DLA_core = -1
        self.cache_read: bytes | None = None
        self._cache = b""

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.ATTRIBUTES:
            raise AttributeError(f"'tensorrt.IBuilderConfig' object has no attribute '{name}'")
        object.__setattr__(self, name, value)

    def set_memory_pool_limit(self, pool: str, size: int) -> None:
        self.pool_limits[pool] = size

    def set_flag(self, flag: str) -> None:
        self.flags.append(flag)

    def add_optimization_profile(self, profile: FakeProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, data: bytes) -> SimpleNamespace | None:
        data = bytes(data)
        if data and not re.fullmatch(rb"trt[0-9.]+-sm[0-9.]+:.*", data, re.S):
            self.trt.error("Failed to deserialize the timing cache: the blob is corrupt or truncated")
            return None
        return SimpleNamespace(data=data)

    def set_timing_cache(self, cache: SimpleNamespace, ignore_mismatch: bool) -> bool:
        if cache is None:
            raise TypeError("set_timing_cache(): incompatible function arguments (cache: tensorrt.ITimingCache)")
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


class FakeCalibratingConfig(FakeConfig):
    """IBuilderConfig of TensorRT < 11: it also takes an INT8 calibrator and a calibration profile."""

    ATTRIBUTES = FakeConfig.ATTRIBUTES | {"int8_calibrator", "calibration_profile"}

    def __init__(self, trt: FakeTensorRT) -> None:
        super().__init__(trt)
        self.int8_calibrator = None

    def set_calibration_profile(self, profile: FakeProfile) -> bool:
        self.calibration_profile = profile
        return True


class FakeBuilder:
    def __init__(self, trt: FakeTensorRT) -> None:
        self.trt = trt
        self.num_DLA_cores = trt.dla_cores

    def create_network(self, flags: int) -> FakeNetwork:
        self.trt.network_flags = flags
        self.trt.network = FakeNetwork(self.trt, (-1 if self.trt.dynamic else self.trt.batch, 3, 32, 32))
        return self.trt.network

    def create_builder_config(self) -> FakeConfig:
        self.trt.config = (FakeConfig if self.trt.major >= 11 else FakeCalibratingConfig)(self.trt)
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
        calibrator = getattr(config, "int8_calibrator", None)
        if calibrator is not None and "INT8" in config.flags and not self._calibrate(calibrator, network, config):
            return None
        self.trt.built_precisions = {layer.name: chosen(layer, config.flags) for layer in network.layers}
        return b"FAKE-ENGINE flags=%d" % self.trt.network_flags

    def _calibration_shape(self, network: FakeNetwork, config: FakeConfig) -> tuple[int, ...] | None:
        shape = tuple(network.get_input(0).shape)
        if -1 not in shape:
            return shape
        profile = getattr(config, "calibration_profile", None)
        if profile is None:
            self.trt.error("Calibration profile must be set for a network with dynamic shapes.")
            return None
        return profile.shapes[network.get_input(0).name][1]  # kOPT: MIN and MAX are overwritten by it

    def _calibrate(self, calibrator: Any, network: FakeNetwork, config: FakeConfig) -> bool:
        """TensorRT's calibration: read the cache, else feed batches until get_batch says there are no more."""
        self.trt.calibration_batches = 0
        if _trampoline(calibrator, "read_calibration_cache", None):
            return True
        shape = self._calibration_shape(network, config)
        if shape is None:
            return False
        _trampoline(calibrator, "get_batch_size", -1)
        nbytes = int(np.prod(shape)) * 4  # the network input is float32
        while True:
            pointers = _trampoline(calibrator, "get_batch", None, [network.get_input(0).name])
            if not pointers:
                break
            if len(pointers) != network.num_inputs:
                self.trt.error(f"get_batch gave {len(pointers)} pointers for {network.num_inputs} network inputs")
                return False
            for pointer in pointers:
                problem = self.trt.gpu.problem(int(pointer), nbytes)
                if problem:
                    self.trt.error(f"Calibration batch of shape {shape}: Cuda Runtime ({problem})")
                    return False
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


def _creation_flags(major: int) -> SimpleNamespace:
    """NetworkDefinitionCreationFlag as each TensorRT declares it (include/NvInfer.h)."""
    if major < 10:
        return SimpleNamespace(EXPLICIT_BATCH=0, EXPLICIT_PRECISION=1)
    if major == 10:
        return SimpleNamespace(EXPLICIT_BATCH=0, STRONGLY_TYPED=1)
    return SimpleNamespace(STRONGLY_TYPED=0)  # 11: always strongly typed, EXPLICIT_BATCH removed


class FakeTensorRT:
    """The `tensorrt` module as far as edgeseg uses it, at a chosen version.

    batch: the fixed batch of the parsed network and of the engine (dynamic=True makes it -1 instead).
    output: the engine's output, "logits" (in `output_dtype`: FLOAT, HALF, or BF16, which numpy lacks) or
    "classes" (INT32). cuda: the CUDA double whose simulated GPU the engines run on.
    """

    def __init__(
        self,
        version: str = "10.3.0",
        dla_cores: int = 0,
        dynamic: bool = False,
        fail_build: bool = False,
        cuda: Any = None,
        engine_loads: bool = True,
        capability: str = "8.7",
        batch: int = 1,
        output: str = "logits",
        output_dtype: str = "FLOAT",
        confidence: bool = False,
    ):
        self.__version__ = version
        self.major = major = int(version.split(".")[0])
        self.dla_cores, self.dynamic, self.fail_build, self.capability = dla_cores, dynamic, fail_build, capability
        self.batch, self.output_dtype = batch, output_dtype
        # confidence: the engine of a `--confidence` class-map export (fake_tensorrt_engine.FakeEngine)
        self.output, self.confidence = ("classes" if confidence else output), confidence
        self.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=2: None})
        self.NetworkDefinitionCreationFlag = _creation_flags(major)
        self.MemoryPoolType = SimpleNamespace(WORKSPACE="WORKSPACE")
        precision_flags = {} if major >= 11 else {k: k for k in ("FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS")}
        self.BuilderFlag = SimpleNamespace(GPU_FALLBACK="GPU_FALLBACK", **precision_flags)
        self.DeviceType = SimpleNamespace(GPU="GPU", DLA="DLA")
        types = ("FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "FP8", "BF16", "INT64", "INT4")
        self.DataType = SimpleNamespace(**{t: t for t in types})
        self.float32, self.float16, self.int8, self.int32 = "FLOAT", "HALF", "INT8", "INT32"
        self.bfloat16 = "BF16"
        self.LayerType = SimpleNamespace(**{k: k for k in (*QUANTIZABLE, "TOPK", "SHUFFLE", "IDENTITY", "CONSTANT")})
        self.built_precisions: dict[str, tuple[str, list[str]]] = {}
        if major < 11:
            self.IInt8EntropyCalibrator2 = _Calibrator
        self.network_flags: int | None = None
        self.network: FakeNetwork | None = None
        self.config: FakeConfig | None = None
        self.errors: list[str] = []
        self.cuda, self.engine_loads, self.executions = cuda, engine_loads, 0
        self.gpu: FakeGpu = cuda.gpu if cuda is not None else FakeGpu()
        self.deserialized_on_dla_core: int | None = None
        self.TensorIOMode = SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")

    def nptype(self, dtype: str) -> type:
        return nptype(self.major, dtype)

    def error(self, message: str) -> None:
        """What TensorRT's logger prints for an API error; the call that caused it has no effect."""
        self.errors.append(message)
        print(f"[TRT] [E] {message}", file=sys.stderr)

    def strongly_typed_flag(self) -> bool:
        bit = getattr(self.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        return self.major >= 11 or (bit is not None and bool((self.network_flags or 0) & (1 << bit)))

    def cache_stamp(self) -> bytes:
        return f"trt{self.__version__}-sm{self.capability}:".encode()

    def Runtime(self, logger: Any) -> FakeRuntime:
        self.runtime = FakeRuntime(self)
        return self.runtime

    def Builder(self, logger: Any) -> FakeBuilder:
        return FakeBuilder(self)

    def OnnxParser(self, network: Any, logger: Any) -> FakeParser:
        return FakeParser(self)
