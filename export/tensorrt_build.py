"""ONNX → TensorRT engine with the TensorRT ≥ 8.5 Python API, without torch (a Jetson builds its own).

What differs between TensorRT versions is decided in `plan_build`, a pure function tested on any
machine; `build_engine` only carries the plan out through the API:
  ≤ 9:     explicit-batch network flag; FP16/INT8 builder flags; INT8 through a calibrator, with the
           classifier and what follows it held to FP32 by layer precision constraints.
  10.0:    networks are always explicit batch (the flag is deprecated); FP16/INT8 flags still exist.
  10.1–10: INT8 from the QDQ model.int8.onnx (explicit quantization; implicit calibration is deprecated).
  ≥ 11:    strongly typed networks only: precision comes from the graph, so FP16 parses model.fp16.onnx
           and INT8 parses the QDQ model.int8.onnx; there is no FP16 flag and no calibrator.
Building needs no CUDA binding (the GPU is read from the driver); only the INT8 calibrator of
TensorRT < 10.1 copies images to the device, through cuda-python or pycuda.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.atomic import atomic_path
from edgeseg.errors import EdgesegError, describe
from edgeseg.runtime.backends.tensorrt import import_tensorrt
from edgeseg.runtime.engine_sidecar import write_sidecar
from edgeseg.runtime.metadata import ModelMetadata

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
        if version >= (10, 1):  # explicit quantization: the Q/DQ scales edgeseg's parity check has already seen
            if "int8" not in onnx_files:
                raise EngineBuildError("TensorRT ≥ 10.1 builds INT8 from the QDQ model.int8.onnx, which is missing")
            onnx = onnx_files["int8"]
            notes.append(f"INT8 from the Q/DQ scales in {onnx.name} (explicit quantization)")
        else:
            calibrate = True
            flags.append("OBEY_PRECISION_CONSTRAINTS")  # else TensorRT may ignore `keep_output_fp32`'s requests
    if dla_core is not None:
        flags.append("GPU_FALLBACK")  # layers the DLA cannot run go to the GPU instead of failing
    return BuildPlan(onnx, version[0] < 10, strongly_typed, tuple(flags), calibrate, tuple(notes))


def keep_output_fp32(trt: Any, network: Any) -> list[str]:
    """Ask TensorRT to run the classifier convolution and every layer after it in FP32; their names.

    The calibrator path's counterpart of `edgeseg.export.precision.output_tail`, which leaves those nodes
    unquantized in model.int8.onnx: in INT8 (or FP16) the class scores round close logits to one step and
    argmax flips along object borders. Walks back from the network's outputs to the first convolution.
    Only layers with a float output are constrained: TensorRT's TopK indices and shape operations are
    always INT32, and setting another output type there is an error.
    """
    producers = {}
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            producers[layer.get_output(j).name] = layer
    frontier = [network.get_output(i).name for i in range(network.num_outputs)]
    kept: list[str] = []
    visited: set[str] = set()
    while frontier:
        layer = producers.get(frontier.pop())
        if layer is None or layer.name in visited:
            continue
        visited.add(layer.name)
        floats = [j for j in range(layer.num_outputs) if layer.get_output(j).dtype == trt.float32]
        if floats:
            layer.precision = trt.float32
            for j in floats:
                layer.set_output_type(j, trt.float32)
            kept.append(layer.name)
        if layer.type != trt.LayerType.CONVOLUTION:
            inputs = (layer.get_input(j) for j in range(layer.num_inputs))
            frontier += [tensor.name for tensor in inputs if tensor is not None]
    return kept


def make_calibrator(trt: Any, cuda: Any, batches: Sequence[np.ndarray], cache: Path) -> Any:
    """An entropy calibrator feeding `batches` (pre-processed N×3×H×W float32) through one device buffer.

    TensorRT catches an exception raised in `get_batch`, prints it and takes it as "no more batches", then
    builds on what it saw. So the calibrator keeps the error and `problem()` tells the build to fail.
    """

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.batches = batches  # read one at a time (`CalibrationImages`): held together they could fill memory
            self.index = 0
            self.error: BaseException | None = None
            self.cache_used = False
            self.cuda = cuda
            self.stream = cuda.stream()
            self.pointer = cuda.malloc(self.batches[0].nbytes)

        def get_batch_size(self) -> int:
            return int(self.batches[0].shape[0])

        def get_batch(self, names: list[str], *args: Any) -> list[int] | None:
            if self.index >= len(self.batches):
                return None
            try:
                batch = np.ascontiguousarray(self.batches[self.index], dtype=np.float32)
                cuda.copy_to_device(self.pointer, batch, self.stream)
                cuda.synchronize(self.stream)
            except Exception as exc:
                self.error = exc
                raise
            self.index += 1
            return [self.pointer]

        def read_calibration_cache(self) -> bytes | None:
            self.cache_used = cache.is_file()
            return cache.read_bytes() if self.cache_used else None

        def write_calibration_cache(self, data: Any) -> None:
            if self.problem() is None:  # scales from a partial calibration must not be reused later
                with atomic_path(cache) as tmp:
                    tmp.write_bytes(bytes(data))

        def problem(self) -> str | None:
            if self.cache_used:
                return None
            if self.error is not None:
                return f"calibration failed at batch {self.index + 1} of {len(self.batches)} ({describe(self.error)})"
            if self.index < len(self.batches):
                return f"calibration stopped after {self.index} of {len(self.batches)} batches"
            return None

        def release(self) -> None:
            cuda.free(self.pointer)
            cuda.release(self.stream)

    if not batches:
        raise EngineBuildError("INT8 calibration needs images: pass --calib DIR")
    return Calibrator()


def network_batches(images: Sequence[np.ndarray], batch: int) -> list[np.ndarray]:
    """The calibration images (arrays of N×3×H×W) regrouped into batches of the network's fixed `batch`.

    TensorRT reads a whole network input from every pointer the calibrator hands it (NvInfer.h: "The batch size
    of the input must match the batch size returned by getBatchSize()"; an explicit-batch network fixes it), so
    each batch must hold exactly `batch` images. The last one is filled up with the first images again rather
    than dropping the tail: every image is seen, and at most batch - 1 of them twice.
    """
    flat = np.concatenate([np.ascontiguousarray(b, dtype=np.float32) for b in images])
    count = -(-len(flat) // batch)
    order = np.arange(count * batch) % len(flat)
    return [flat[order[i * batch : (i + 1) * batch]] for i in range(count)]


def calibration_cache_path(engine: Path, onnx: Path, batches: Sequence[np.ndarray]) -> Path:
    """calibration.<key>.cache: the key hashes the model and the images, so neither is reused stale."""
    digest = hashlib.sha256(onnx.read_bytes())
    for batch in batches:
        digest.update(np.ascontiguousarray(batch, dtype=np.float32).tobytes())
    return engine.with_name(f"calibration.{digest.hexdigest()[:16]}.cache")


def timing_cache_path(engine: Path, tensorrt: str, capability: str) -> Path:
    """timing.trt<version>.sm<capability>.cache: tactic timings are valid for one TensorRT on one GPU."""
    return engine.with_name(f"timing.trt{tensorrt}.sm{capability.replace('.', '')}.cache")


def batch_profile(
    onnx: Path, name: str, shape: Sequence[int], requested: tuple[int, int, int] | None
) -> tuple[int, int, int] | None:
    """The batch profile (min, opt, max) the parsed input needs: TensorRT requires one for a -1 batch."""
    shape = tuple(int(d) for d in shape)
    if -1 in shape[1:]:
        raise EngineBuildError(f"{onnx.name}: input {name} is {shape}; only the batch axis may be dynamic")
    if shape[0] != -1:
        if requested:
            raise EngineBuildError(
                f"{onnx.name} has a fixed batch of {shape[0]}, so --dynamic-batch cannot apply; export the ONNX "
                f"from the checkpoint with --dynamic-batch, or build without it"
            )
        return None
    profile = requested or (1, 1, 1)
    if not 1 <= profile[0] <= profile[1] <= profile[2]:  # TensorRT's set_shape would raise a bare RuntimeError
        shapes = ", ".join(str((batch, *shape[1:])) for batch in profile)
        raise EngineBuildError(
            f"{onnx.name}: the batch profile {shapes} (min, opt, max) of input {name} is not 1 ≤ min ≤ opt ≤ max"
        )
    return profile


@dataclass
class EngineRequest:
    onnx_files: dict[str, Path]  # precision → ONNX file ("fp32" always)
    engine: Path
    metadata: ModelMetadata
    precision: str = "fp32"
    workspace_gb: float = 4.0
    dla_core: int | None = None
    dynamic_batch: tuple[int, int, int] | None = None  # min, opt, max
    calibration: Sequence[np.ndarray] = ()


def _gpu(cuda: Any) -> tuple[str, str]:
    """GPU name and compute capability: from the CUDA binding when one is given, else from the driver."""
    if cuda is not None:
        return cuda.device()
    from edgeseg.runtime.gpu import gpu_facts

    facts = gpu_facts()
    if facts is None:
        raise EngineBuildError(
            "no NVIDIA GPU found (the CUDA driver, libcuda.so.1, is missing or sees no device): TensorRT builds "
            "an engine on the GPU it will run on"
        )
    return facts.name, facts.capability


def _parse(trt: Any, builder: Any, logger: Any, plan: BuildPlan) -> tuple[Any, Any]:
    flags = 0
    if plan.explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if plan.strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)  # kept alive with the network it fills
    if not parser.parse_from_file(str(plan.onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT cannot parse {plan.onnx.name}: {errors}")
    return network, parser


def _configure(
    trt: Any, builder: Any, network: Any, request: EngineRequest, plan: BuildPlan, log: Callable[[str], None]
) -> tuple[Any, tuple[int, int, int] | None]:
    """The builder config: memory, precision flags, DLA, and the batch profile the parsed graph needs."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(request.workspace_gb * 2**30))
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if request.dla_core is not None:
        if builder.num_DLA_cores <= request.dla_core:
            raise EngineBuildError(f"--dla-core {request.dla_core}: this device has {builder.num_DLA_cores} DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = request.dla_core
    tensor = network.get_input(0)
    profile = batch_profile(plan.onnx, tensor.name, tensor.shape, request.dynamic_batch)
    if profile is not None:
        if request.dynamic_batch is None:
            log(f"note: {plan.onnx.name} has a dynamic batch; building for batch 1 (--dynamic-batch for 1…N)")
        rest = tuple(tensor.shape)[1:]
        optimization = builder.create_optimization_profile()
        optimization.set_shape(tensor.name, *((b, *rest) for b in profile))
        config.add_optimization_profile(optimization)
    return config, profile


def _attach_calibrator(trt: Any, cuda: Any, builder: Any, network: Any, config: Any, request: EngineRequest) -> Any:
    """TensorRT < 10.1 INT8: an entropy calibrator over the images, in batches of the network's fixed batch, or
    of 1 when the batch is dynamic."""
    if cuda is None:
        from edgeseg.runtime.cuda import cuda_api

        cuda = cuda_api()
    cache = calibration_cache_path(request.engine, request.onnx_files["fp32"], request.calibration)
    tensor = network.get_input(0)
    shape = tuple(tensor.shape)
    batches = network_batches(request.calibration, max(1, int(shape[0]))) if request.calibration else []
    calibrator = make_calibrator(trt, cuda, batches, cache)
    config.int8_calibrator = calibrator
    if -1 in shape:
        # TensorRT calibrates at a profile's opt shape; the calibrator feeds one image at a time.
        single = (1, *tuple(tensor.shape)[1:])
        calibration_profile = builder.create_optimization_profile()
        calibration_profile.set_shape(tensor.name, single, single, single)
        config.set_calibration_profile(calibration_profile)
    return calibrator


def build_engine(
    request: EngineRequest, *, trt: Any = None, cuda: Any = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Build, write `engine` raw and its sidecar; reuse and update the timing cache of this TensorRT and GPU."""
    trt = trt or import_tensorrt()
    plan = plan_build(parse_version(trt.__version__), request.precision, request.onnx_files, request.dla_core)
    for note in plan.notes:
        log(f"note: {note}")
    gpu, capability = _gpu(cuda)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse(trt, builder, logger, plan)
    config, profile = _configure(trt, builder, network, request, plan, log)
    calibrator = None
    if plan.calibrate:
        kept = keep_output_fp32(trt, network)
        log(f"note: INT8 by calibration; {len(kept)} layers from the classifier on kept FP32")
        calibrator = _attach_calibrator(trt, cuda, builder, network, config, request)

    # Timing cache: tactic timings from earlier builds on this GPU + TensorRT make rebuilds much faster.
    cache_file = timing_cache_path(request.engine, trt.__version__, capability)
    timing_cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    if timing_cache is None:  # TensorRT could not deserialize it (None, which set_timing_cache refuses)
        log(f"note: {cache_file.name} cannot be read (corrupt or cut short); starting a new one")
        timing_cache = config.create_timing_cache(b"")
    if not config.set_timing_cache(timing_cache, ignore_mismatch=False):  # False: made by another TensorRT/GPU
        log(f"note: {cache_file.name} does not match this TensorRT and GPU; starting a new one")
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
    log(f"building the TensorRT {trt.__version__} {request.precision} engine (minutes on a Jetson)…")
    try:
        # The calibration's reads of the calibrator's buffers run under the context that owns them (pycuda).
        with calibrator.cuda.active() if calibrator is not None else contextlib.nullcontext():
            serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.release()
    problem = calibrator.problem() if calibrator is not None else None
    if problem is not None:
        raise EngineBuildError(f"INT8 {problem}; no engine written")
    if serialized is None:
        raise EngineBuildError("TensorRT could not build the engine (its log above says why)")
    with atomic_path(request.engine) as tmp:
        tmp.write_bytes(bytes(serialized))
    with atomic_path(cache_file) as tmp:
        tmp.write_bytes(bytes(config.get_timing_cache().serialize()))

    info = {
        **request.metadata.to_dict(),
        "tensorrt": trt.__version__,
        "gpu": gpu,
        "compute_capability": capability,
        "precision": request.precision,
        "onnx": request.onnx_files["fp32"].name,
        "onnx_sha256": hashlib.sha256(plan.onnx.read_bytes()).hexdigest(),
        "parsed_onnx": plan.onnx.name,
        "dla_core": request.dla_core,
        "dynamic_batch": list(profile) if profile else None,
        "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_sidecar(request.engine, info)
    return info
