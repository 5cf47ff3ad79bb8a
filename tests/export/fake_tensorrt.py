"""Test doubles at the hardware boundary: a fake `tensorrt` module and a fake CUDA API.

TensorRT cannot be installed on the CI machines (PyPI holds placeholders only) and there is no GPU.
These doubles implement just the API surface edgeseg's TensorRT code calls, record every call, and
drive an INT8 calibrator the way TensorRT does, so the logic around the API is tested on any machine.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np


class FakeCuda:
    """Device memory simulated as bytearrays keyed by fake addresses; copies recorded."""

    def __init__(self, gpu: str = "Fake Orin", capability: str = "8.7") -> None:
        self.gpu, self.capability = gpu, capability
        self.allocated: dict[int, int] = {}
        self.memory: dict[int, bytearray] = {}
        self.copies: list[np.ndarray] = []
        self.freed: list[int] = []
        self.released = False
        self._next = 0x1000

    def device(self) -> tuple[str, str]:
        return self.gpu, self.capability

    def malloc(self, nbytes: int) -> int:
        self._next += 0x1000
        self.allocated[self._next] = nbytes
        self.memory[self._next] = bytearray(nbytes)
        return self._next

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return np.empty(shape, dtype)

    def free(self, pointer: int) -> None:
        self.freed.append(pointer)

    def stream(self) -> int:
        return 7

    def copy_to_device(self, pointer: int, array: np.ndarray, stream: int) -> None:
        assert array.nbytes <= self.allocated[pointer], "copy larger than the allocation"
        self.copies.append(array.copy())
        self.memory[pointer][: array.nbytes] = np.ascontiguousarray(array).tobytes()

    def copy_to_host(self, array: np.ndarray, pointer: int, stream: int) -> None:
        assert array.nbytes <= self.allocated[pointer], "copy larger than the allocation"
        array[...] = np.frombuffer(bytes(self.memory[pointer][: array.nbytes]), array.dtype).reshape(array.shape)

    def synchronize(self, stream: int) -> None:
        pass

    def release(self, stream: int | None = None) -> None:
        self.released = True


class _Calibrator:
    """Stands in for trt.IInt8EntropyCalibrator2 (a base class edgeseg subclasses)."""

    def __init__(self) -> None:
        pass


class FakeConfig:
    def __init__(self) -> None:
        self.flags: list[str] = []
        self.pool_limits: dict[str, int] = {}
        self.profiles: list[Any] = []
        self.int8_calibrator = None
        self.default_device_type = "GPU"
        self.DLA_core = -1
        self._cache = b""

    def set_memory_pool_limit(self, pool: str, size: int) -> None:
        self.pool_limits[pool] = size

    def set_flag(self, flag: str) -> None:
        self.flags.append(flag)

    def add_optimization_profile(self, profile: Any) -> None:
        self.profiles.append(profile)

    def set_calibration_profile(self, profile: Any) -> None:
        self.calibration_profile = profile

    def create_timing_cache(self, data: bytes) -> SimpleNamespace:
        self.cache_read = bytes(data)
        return SimpleNamespace(data=bytes(data))

    def set_timing_cache(self, cache: SimpleNamespace, ignore_mismatch: bool) -> None:
        self._cache = cache.data

    def get_timing_cache(self) -> SimpleNamespace:
        return SimpleNamespace(serialize=lambda: self._cache + b"+tactics")


class FakeBuilder:
    def __init__(self, trt: FakeTensorRT) -> None:
        self.trt = trt
        self.num_DLA_cores = trt.dla_cores

    def create_network(self, flags: int) -> SimpleNamespace:
        self.trt.network_flags = flags
        shape = (-1 if self.trt.dynamic else 1, 3, 32, 32)
        return SimpleNamespace(get_input=lambda i: SimpleNamespace(name="images", shape=shape))

    def create_builder_config(self) -> FakeConfig:
        self.trt.config = FakeConfig()
        return self.trt.config

    def create_optimization_profile(self) -> SimpleNamespace:
        profile = SimpleNamespace(shapes={})
        profile.set_shape = lambda name, low, opt, high: profile.shapes.__setitem__(name, (low, opt, high))
        return profile

    def build_serialized_network(self, network: Any, config: FakeConfig) -> bytes | None:
        if self.trt.fail_build:
            return None
        calibrator = config.int8_calibrator
        if calibrator is not None:  # what TensorRT does with a calibrator: read cache, else feed batches
            self.trt.calibration_batches = 0
            if calibrator.read_calibration_cache() is None:
                while calibrator.get_batch(["images"]) is not None:
                    self.trt.calibration_batches += 1
                calibrator.write_calibration_cache(b"calibration-table")
        return b"FAKE-ENGINE flags=%d" % self.trt.network_flags


class FakeParser:
    def __init__(self, trt: FakeTensorRT) -> None:
        self.trt, self.num_errors = trt, 0

    def parse_from_file(self, path: str) -> bool:
        self.trt.parsed = Path(path)
        if not Path(path).is_file() or Path(path).read_bytes()[:4] == b"junk":
            self.num_errors = 1
            return False
        return True

    def get_error(self, index: int) -> str:
        return "In node 0 (parseGraph): INVALID_GRAPH"


class FakeEngine:
    """A deserialized engine: images (N×3×H×W float32) → logits (N×2×H×W float32), class c = (c+1)·channel 0.

    Batch is dynamic (profile 1…4) when the double is made with dynamic=True.
    """

    def __init__(self, trt: FakeTensorRT, size: tuple[int, int] = (8, 8)) -> None:
        self.trt, self.size = trt, size
        self.num_io_tensors = 2
        batch = -1 if trt.dynamic else 1
        self.shapes = {"images": (batch, 3, *size), "logits": (batch, 2, *size)}

    def get_tensor_name(self, index: int) -> str:
        return ("images", "logits")[index]

    def get_tensor_mode(self, name: str) -> str:
        return "INPUT" if name == "images" else "OUTPUT"

    def get_tensor_dtype(self, name: str) -> str:
        return "float32"

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[name]

    def get_tensor_profile_shape(self, name: str, profile: int) -> tuple[tuple[int, ...], ...]:
        return tuple((b, 3, *self.size) for b in (1, 2, 4))

    def create_execution_context(self) -> FakeContext:
        return FakeContext(self)


class FakeContext:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine, self.addresses, self.input_shape = engine, {}, None

    def set_tensor_address(self, name: str, address: int) -> None:
        self.addresses[name] = address

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.input_shape = tuple(shape)
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        batch = self.input_shape[0]
        return (batch, 3 if name == "images" else 2, *self.engine.size)

    def execute_async_v3(self, stream: int) -> bool:
        memory = self.engine.trt.cuda.memory
        n = int(np.prod(self.input_shape))
        images = np.frombuffer(bytes(memory[self.addresses["images"]][: 4 * n]), np.float32).reshape(self.input_shape)
        logits = np.stack([images[:, 0] * (c + 1) for c in range(2)], axis=1).astype(np.float32)
        memory[self.addresses["logits"]][: logits.nbytes] = logits.tobytes()
        self.engine.trt.executions += 1
        return True


class FakeTensorRT:
    """The `tensorrt` module as far as edgeseg uses it, at a chosen version."""

    def __init__(
        self,
        version: str = "10.3.0",
        dla_cores: int = 0,
        dynamic: bool = False,
        fail_build: bool = False,
        cuda: FakeCuda | None = None,
        engine_loads: bool = True,
    ):
        self.__version__ = version
        self.dla_cores, self.dynamic, self.fail_build = dla_cores, dynamic, fail_build
        self.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=2: None})
        self.NetworkDefinitionCreationFlag = SimpleNamespace(EXPLICIT_BATCH=0, STRONGLY_TYPED=1)
        self.MemoryPoolType = SimpleNamespace(WORKSPACE="WORKSPACE")
        self.BuilderFlag = SimpleNamespace(FP16="FP16", INT8="INT8", GPU_FALLBACK="GPU_FALLBACK")
        self.DeviceType = SimpleNamespace(GPU="GPU", DLA="DLA")
        self.IInt8EntropyCalibrator2 = _Calibrator
        self.network_flags = None
        self.config: FakeConfig | None = None
        self.cuda, self.engine_loads, self.executions = cuda, engine_loads, 0
        self.TensorIOMode = SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
        self.nptype = np.dtype

    def Runtime(self, logger: Any) -> SimpleNamespace:
        return SimpleNamespace(deserialize_cuda_engine=lambda data: FakeEngine(self) if self.engine_loads else None)

    def Builder(self, logger: Any) -> FakeBuilder:
        return FakeBuilder(self)

    def OnnxParser(self, network: Any, logger: Any) -> FakeParser:
        return FakeParser(self)
