"""ONNX → TensorRT engine with the TensorRT ≥ 8.5 Python API, without torch (a Jetson builds its own).

What differs between TensorRT versions is decided in `plan_build`, a pure function tested on any
machine; `build_engine` only carries the plan out through the API:
  ≤ 9:  explicit-batch network flag; FP16/INT8 builder flags; INT8 through a calibrator.
  10:   networks are always explicit batch (the flag is deprecated); FP16/INT8 flags still exist.
  ≥ 11: strongly typed networks only: precision comes from the graph, so FP16 parses model.fp16.onnx
        and INT8 parses the QDQ model.int8.onnx; there is no FP16 flag and no calibrator.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.atomic import atomic_path
from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.tensorrt import import_tensorrt
from edgeseg.runtime.engine_sidecar import write_sidecar

PRECISIONS = ("fp32", "fp16", "int8")


class EngineBuildError(EdgesegError):
    """TensorRT could not build the engine."""


def parse_version(text: str) -> tuple[int, int]:
    major, minor = [*text.split("."), "0"][:2]
    return int(major), int(minor)


@dataclass(frozen=True)
class BuildPlan:
    onnx: Path  # the graph to parse
    explicit_batch_flag: bool
    strongly_typed: bool
    builder_flags: tuple[str, ...]
    calibrate: bool  # INT8 through an IInt8EntropyCalibrator2
    notes: tuple[str, ...] = field(default=())


def plan_build(
    version: tuple[int, int], precision: str, onnx_files: dict[str, Path], dla_core: int | None
) -> BuildPlan:
    """Which ONNX file, network flags, builder flags and calibration this TensorRT version needs."""
    if version < (8, 5):
        raise EngineBuildError(f"TensorRT {version[0]}.{version[1]} is too old: edgeseg needs ≥ 8.5 (named tensors)")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if dla_core is not None and precision == "fp32":
        raise EngineBuildError("the DLA runs FP16 or INT8 only: add --fp16 (or --int8) to use --dla-core")
    strongly_typed = version[0] >= 11
    flags: list[str] = []
    notes: list[str] = []
    onnx = onnx_files["fp32"]
    calibrate = False
    if strongly_typed and precision != "fp32":
        if precision not in onnx_files:
            raise EngineBuildError(
                f"TensorRT ≥ 11 builds {precision.upper()} from model.{precision}.onnx, which is missing"
            )
        onnx = onnx_files[precision]
        notes.append(f"strongly typed network from {onnx.name} (TensorRT ≥ 11 has no precision flags)")
    elif precision == "fp16":
        flags.append("FP16")
    elif precision == "int8":
        flags += ["INT8", "FP16"]  # FP16 for the layers INT8 cannot run
        calibrate = True
    if dla_core is not None:
        flags.append("GPU_FALLBACK")  # layers the DLA cannot run go to the GPU instead of failing
    return BuildPlan(onnx, version[0] < 10, strongly_typed, tuple(flags), calibrate, tuple(notes))


def make_calibrator(trt: Any, cuda: Any, batches: Sequence[np.ndarray], cache: Path) -> Any:
    """An entropy calibrator feeding `batches` (pre-processed N×3×H×W float32) through one device buffer."""

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.batches = [np.ascontiguousarray(b, dtype=np.float32) for b in batches]
            self.index = 0
            self.stream = cuda.stream()
            self.pointer = cuda.malloc(self.batches[0].nbytes)

        def get_batch_size(self) -> int:
            return int(self.batches[0].shape[0])

        def get_batch(self, names: list[str], *args: Any) -> list[int] | None:
            if self.index >= len(self.batches):
                return None
            cuda.copy_to_device(self.pointer, self.batches[self.index], self.stream)
            cuda.synchronize(self.stream)
            self.index += 1
            return [self.pointer]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            with atomic_path(cache) as tmp:
                tmp.write_bytes(bytes(data))

        def release(self) -> None:
            cuda.free(self.pointer)
            cuda.release(self.stream)

    if not batches:
        raise EngineBuildError("INT8 calibration needs images: pass --calib DIR")
    return Calibrator()


@dataclass
class EngineRequest:
    onnx_files: dict[str, Path]  # precision → ONNX file ("fp32" always)
    engine: Path
    metadata: dict[str, Any]
    precision: str = "fp32"
    workspace_gb: float = 4.0
    dla_core: int | None = None
    dynamic_batch: tuple[int, int, int] | None = None  # min, opt, max
    calibration: Sequence[np.ndarray] = ()


def build_engine(
    request: EngineRequest, *, trt: Any = None, cuda: Any = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Build, write `engine` raw and its sidecar; reuse and update the timing cache beside it."""
    trt = trt or import_tensorrt()
    if cuda is None:
        from edgeseg.runtime.cuda import cuda_api

        cuda = cuda_api()
    plan = plan_build(parse_version(trt.__version__), request.precision, request.onnx_files, request.dla_core)
    for note in plan.notes:
        log(f"note: {note}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if plan.explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if plan.strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT cannot parse {plan.onnx.name}: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(request.workspace_gb * 2**30))
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if request.dla_core is not None:
        if builder.num_DLA_cores <= request.dla_core:
            raise EngineBuildError(f"--dla-core {request.dla_core}: this device has {builder.num_DLA_cores} DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = request.dla_core
    input_tensor = network.get_input(0)
    if request.dynamic_batch:
        low, opt, high = request.dynamic_batch
        shape = tuple(input_tensor.shape)[1:]
        profile = builder.create_optimization_profile()
        profile.set_shape(input_tensor.name, (low, *shape), (opt, *shape), (high, *shape))
        config.add_optimization_profile(profile)
    calibrator = None
    if plan.calibrate:
        calibrator = make_calibrator(trt, cuda, request.calibration, request.engine.with_name("calibration.cache"))
        config.int8_calibrator = calibrator
        if request.dynamic_batch:
            # TensorRT calibrates at a profile's opt shape; the calibrator feeds one image at a time.
            single = (1, *tuple(input_tensor.shape)[1:])
            calibration_profile = builder.create_optimization_profile()
            calibration_profile.set_shape(input_tensor.name, single, single, single)
            config.set_calibration_profile(calibration_profile)

    # Timing cache: tactic timings from earlier builds on this GPU + TensorRT make rebuilds much faster.
    cache_file = request.engine.with_name("timing.cache")
    timing_cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    config.set_timing_cache(timing_cache, ignore_mismatch=True)
    log(f"building the TensorRT {trt.__version__} {request.precision} engine (minutes on a Jetson)…")
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.release()
    if serialized is None:
        raise EngineBuildError("TensorRT could not build the engine (its log above says why)")
    with atomic_path(request.engine) as tmp:
        tmp.write_bytes(bytes(serialized))
    with atomic_path(cache_file) as tmp:
        tmp.write_bytes(bytes(config.get_timing_cache().serialize()))

    gpu, capability = cuda.device()
    info = {
        **request.metadata,
        "tensorrt": trt.__version__,
        "gpu": gpu,
        "compute_capability": capability,
        "precision": request.precision,
        "onnx": request.onnx_files["fp32"].name,
        "onnx_sha256": hashlib.sha256(plan.onnx.read_bytes()).hexdigest(),
        "parsed_onnx": plan.onnx.name,
        "dla_core": request.dla_core,
        "dynamic_batch": list(request.dynamic_batch) if request.dynamic_batch else None,
        "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_sidecar(request.engine, info)
    return info
