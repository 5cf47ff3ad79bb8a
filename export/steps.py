"""`edgeseg export`: checkpoint or ONNX in; ONNX (+ FP16, INT8), parity reports and an engine out.

One function per step, each returning what it made: the FP32 ONNX file (from a checkpoint or from an ONNX
file), the FP16 and INT8 variants, the parity of each file against its reference (and the guard that removes
a file that fails it), the engine. `run_export` runs them in order and assembles the report in one place.
"""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence  # typing's: the alias below is evaluated at run time (Python 3.8)

import numpy as np

from edgeseg.atomic import write_text_atomic
from edgeseg.errors import EdgesegError, MissingDependencyError, describe, require
from edgeseg.export.onnx_export import DEFAULT_OPSET, DEFAULT_OUTPUT
from edgeseg.export.parity import (
    Check,
    ParityFailure,
    ParityReport,
    Predict,
    Verification,
    check_file,
    guard,
    onnx_session,
    openvino_checks,
)
from edgeseg.runtime.metadata import INPUT_NAME, ModelMetadata

Log = Callable[[str], None]


@dataclass
class ExportOptions:
    source: Path
    out: Path | None = None
    opset: int = DEFAULT_OPSET
    size: tuple[int, int] | None = None
    dynamic_batch: bool = False
    max_batch: int = 8
    fp16: bool = False
    int8: bool = False
    calib: Path | None = None
    calib_images: int = 64
    verify: Path | None = None
    verify_images: int = 32
    engine: bool | None = None  # None: build one if TensorRT is installed
    workspace_gb: float = 4.0
    dla_core: int | None = None
    min_agreement: float = 0.999
    output: str = DEFAULT_OUTPUT  # "classes" (argmax in the graph) or "logits"
    confidence: bool = False  # with "classes": the top class's probability as a second output
    max_int8_drop: float = 1.0  # mIoU points an INT8 file may lose against FP32 before it is removed
    int8_placement: str = "tensorrt"  # where model.int8.onnx's Q/DQ pairs sit (`quantize_int8`'s placement)


@dataclass
class Source:
    """The FP32 ONNX file's step: its metadata, and what the exported files are compared with."""

    meta: ModelMetadata
    reference: Predict | None  # the PyTorch model; None for an ONNX source (the FP32 file is the reference then)
    onnx: dict[str, Any] | None = None  # what export_onnx did (checkpoints only)
    input_name: str = INPUT_NAME  # the graph's image input (another name in a file made by `edgeseg import`)


@dataclass
class Variants:
    """The files the ONNX steps wrote, their parity, and the INT8 calibration set (for the engine)."""

    files: dict[str, Path]  # "fp32", "fp16", "int8"
    parity: list[Check] = field(default_factory=list)
    calibration: Sequence[np.ndarray] = ()  # `CalibrationImages`: each read when used
    int8_refused: str | None = None


def run_export(options: ExportOptions, log: Log = print) -> dict[str, Any]:
    """Everything `edgeseg export` does; returns the report it also writes as export_report.json.

    What can be checked before anything is written is checked first (sources, --calib, --verify,
    --engine); a failed export leaves no output folder it created empty behind.
    """
    _check_before_writing(options)
    out = _planned_output_dir(options)
    created = not out.exists()
    try:
        return _export(options, _output_dir(out), log)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _check_before_writing(options: ExportOptions) -> None:
    if not options.source.is_file():
        raise EdgesegError(f"source not found: {options.source}")
    if options.source.suffix not in (".pt", ".pth", ".onnx"):
        raise EdgesegError(f"SOURCE must be a checkpoint (.pt) or an ONNX file (.onnx), got {options.source.name}")
    if options.confidence and options.output != "classes" and options.source.suffix != ".onnx":
        raise EdgesegError(
            "--confidence adds the top class's probability beside a class map; from --output logits the runtime "
            "computes it on the host: leave --confidence out"
        )
    if options.int8 and options.calib is None:
        raise EdgesegError("--int8 needs --calib DIR: a folder of representative images (or a VOC dataset)")
    if options.engine:
        from edgeseg.runtime.backends.tensorrt import import_tensorrt

        import_tensorrt()  # --engine demands one: say TensorRT is missing before exporting anything
    from edgeseg.export.verification import check_calibration, check_verify_data

    if options.int8:
        check_calibration(options.calib, options.calib_images)
    if options.verify is not None:
        check_verify_data(options.verify)


def _planned_output_dir(options: ExportOptions) -> Path:
    if options.out is not None:
        return options.out
    if options.source.suffix == ".onnx":
        return options.source.parent
    # runs/<name>/weights/best.pt → runs/<name>/export
    parent = options.source.resolve().parent
    return (parent.parent if parent.name == "weights" else parent) / "export"


def _output_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".edgeseg-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise EdgesegError(
            f"cannot write to the output folder {out} ({exc.strerror}); pass a writable --out DIR"
        ) from exc
    return out


def _export(options: ExportOptions, out: Path, log: Log) -> dict[str, Any]:
    onnx_path = out / "model.onnx"
    if options.source.suffix == ".onnx":
        source = _from_onnx(options, onnx_path, log)
    else:
        source = _from_checkpoint(options, onnx_path, log)
    data = _verification(options, source.meta, log)
    variants = _variants(options, out, onnx_path, source, data, log)
    if variants.int8_refused:  # the FP32 (and FP16) files stand; an INT8 engine is not built from a refused file
        _write_report(out, _report(options, source, variants))
        raise ParityFailure(f"removed model.int8.onnx: {variants.int8_refused}")
    engine = _engine(options, out, variants.files, source.meta, variants.calibration, log)
    report = _report(options, source, variants, engine)
    _write_report(out, report)
    return report


def _report(
    options: ExportOptions, source: Source, variants: Variants, engine: dict[str, Any] | None = None
) -> dict[str, Any]:
    """export_report.json: the source, every parity check, the files that stand, and the engine."""
    report: dict[str, Any] = {
        "source": str(options.source),
        "parity": [check.to_dict() for check in variants.parity],
        "files": {("onnx" if kind == "fp32" else kind): str(path) for kind, path in variants.files.items()},
    }
    if source.onnx is not None:
        report["onnx"] = source.onnx
    if options.int8:
        report["calibration_images"] = len(variants.calibration)
        report["int8_placement"] = options.int8_placement
    if variants.int8_refused:
        report["int8_refused"] = variants.int8_refused
    if engine is not None:
        report["engine"] = engine
    return report


def _write_report(out: Path, report: dict[str, Any]) -> None:
    write_text_atomic(out / "export_report.json", json.dumps(report, indent=2) + "\n")


def _variants(
    options: ExportOptions, out: Path, onnx_path: Path, source: Source, data: Verification, log: Log
) -> Variants:
    """The FP32 file checked against PyTorch, then each variant checked against the reference."""
    variants = Variants(files={"fp32": onnx_path})
    with ExitStack() as stack:
        reference = source.reference
        if reference is None:  # variants are compared with the FP32 ONNX
            reference = stack.enter_context(onnx_session(onnx_path))
        else:
            fp32 = check_file("onnx fp32 vs pytorch", onnx_path, reference, data, log)
            variants.parity.append(guard(fp32, onnx_path, options.min_agreement))
        if options.fp16:
            variants.files["fp16"] = _fp16(onnx_path, out)
            fp16 = check_file("onnx fp16 vs reference", variants.files["fp16"], reference, data, log)
            variants.parity.append(guard(fp16, variants.files["fp16"], None))
        if options.int8:
            variants.files["int8"], variants.calibration = _int8(options, onnx_path, out, source, log)
            int8 = check_file("onnx int8 vs reference", variants.files["int8"], reference, data, log)
            variants.parity.append(guard(int8, variants.files["int8"], None))
            variants.int8_refused = _int8_refusal(int8, options.max_int8_drop)
        variants.parity += openvino_checks(variants.files, reference, data, log)
    if variants.int8_refused:
        variants.files.pop("int8").unlink()
    return variants


def _from_checkpoint(options: ExportOptions, onnx_path: Path, log: Log) -> Source:
    require("torch", "train")
    import torch

    from edgeseg.export.onnx_export import export_onnx
    from edgeseg.export.verification import check_verify_classes
    from edgeseg.train.checkpoint import model_from_checkpoint

    model, meta, _ = model_from_checkpoint(options.source)
    if options.size:
        meta = replace(meta, input_size=list(options.size))
    check_verify_classes(options.verify, meta)
    done = export_onnx(
        model,
        meta,
        onnx_path,
        opset=options.opset,
        dynamic_batch=options.dynamic_batch,
        output=options.output,
        confidence=options.confidence,
        log=log,
    )
    meta = replace(meta, output=options.output, confidence=options.confidence)
    for warning in done["warnings"]:
        log(f"warning: {warning}")
    out = done["output"] + (" + confidence" if done["confidence"] else "")
    log(
        f"wrote {onnx_path} ({out} out, opset {done['opset']}, {done['exporter']} exporter, "
        f"{done['nodes']} nodes, checker passed)"
    )
    model.eval()

    @torch.no_grad()
    def reference(x: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(x)).numpy()

    return Source(meta, reference, onnx=done)


def _from_onnx(options: ExportOptions, onnx_path: Path, log: Log) -> Source:
    """An existing ONNX file: checked and used as is, without torch (how a Jetson builds its engine)."""
    onnx = require("onnx", "export")
    from edgeseg.export.graph_checks import check_interface, check_resize_nodes
    from edgeseg.export.verification import check_verify_classes
    from edgeseg.runtime.metadata import output_classes

    if options.size:
        raise EdgesegError("--size applies to checkpoints; an ONNX file's input size is fixed in its graph")
    try:
        proto = onnx.load(str(options.source))
    except Exception as exc:
        raise EdgesegError(f"cannot read {options.source} as ONNX ({describe(exc)})") from exc
    input_name, _ = check_interface(proto, str(options.source))
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value  # 0 where the batch is dynamic
    if options.int8 and batch > 1:
        # Refused rather than regrouped: ONNX Runtime's calibration and the parity checks feed one image at a time
        # (the TensorRT calibrator alone could fill the batch, edgeseg.export.tensorrt_build.network_batches).
        raise EdgesegError(
            f"{options.source.name} has a fixed batch of {batch}; INT8 calibrates on one image at a time: export the "
            f"ONNX from the checkpoint again (batch 1, or --dynamic-batch), or build without --int8"
        )
    meta = ModelMetadata.from_onnx_props({p.key: p.value for p in proto.metadata_props}, str(options.source))
    # A graph from another tool (`edgeseg import`) is what its author trained: its Resize modes are warned about.
    for warning in check_resize_nodes(proto, strict="imported" not in meta.model_config):
        log(f"warning: {warning}")
    meta.check_outputs(output_classes(_output_shape(proto)), str(options.source))
    if options.confidence and not meta.confidence:
        raise EdgesegError(
            f"{options.source} has no confidence output, and an ONNX file's graph is fixed: export it again from "
            "its checkpoint with --confidence"
        )
    check_verify_classes(options.verify, meta)
    if options.source.resolve() != onnx_path.resolve():
        onnx.save(proto, str(onnx_path))
    return Source(meta, None, input_name=input_name)


def _output_shape(proto: Any) -> list[Any]:
    """The first graph output's shape: ints for fixed axes, names for dynamic ones."""
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]


def _verification(options: ExportOptions, meta: ModelMetadata, log: Log) -> Verification:
    from edgeseg.export.verification import verification_set

    inputs, labels, described = verification_set(meta, options.verify, options.verify_images)
    log(f"parity on {described}")
    names = meta.class_names
    return Verification(inputs, labels, list(names))


def _fp16(onnx_path: Path, out: Path) -> Path:
    from edgeseg.export.precision import convert_fp16

    path = out / "model.fp16.onnx"
    convert_fp16(onnx_path, path)
    return path


def _int8(
    options: ExportOptions, onnx_path: Path, out: Path, source: Source, log: Log
) -> tuple[Path, Sequence[np.ndarray]]:
    """model.int8.onnx (QDQ), and the calibration set it was made with (an INT8 engine calibrates on it too)."""
    from edgeseg.export.precision import quantize_int8
    from edgeseg.export.verification import calibration_set

    calibration = calibration_set(options.calib, source.meta, options.calib_images)
    log(f"INT8 calibration on {len(calibration)} images of {options.calib}")
    path = out / "model.int8.onnx"
    quantize_int8(onnx_path, path, calibration, source.input_name, placement=options.int8_placement)
    return path, calibration


def _int8_refusal(check: Check, max_drop: float) -> str | None:
    """Why the INT8 file must go (it loses too much accuracy), or None; a check not run here refuses nothing."""
    if not isinstance(check, ParityReport):
        return None
    from edgeseg.export.precision import int8_verdict

    return int8_verdict(check, max_drop)


def _engine(
    options: ExportOptions,
    out: Path,
    onnx_files: dict[str, Path],
    meta: ModelMetadata,
    calibration: Sequence[np.ndarray],
    log: Log,
) -> dict[str, Any]:
    if options.engine is False:
        return {"built": False, "reason": "--no-engine"}
    from edgeseg.export.tensorrt_build import EngineRequest, build_engine
    from edgeseg.runtime.backends.tensorrt import import_tensorrt

    try:
        trt = import_tensorrt()
    except MissingDependencyError as exc:
        if options.engine:
            raise
        log(
            f"no TensorRT engine built: {exc}. The ONNX files above are complete; build the engine on the target "
            f"with `edgeseg export {onnx_files['fp32'].name}`"
        )
        return {"built": False, "reason": str(exc)}
    precision = "int8" if options.int8 else "fp16" if options.fp16 else "fp32"
    request = EngineRequest(
        onnx_files=onnx_files,
        engine=out / "model.engine",
        metadata=meta,
        precision=precision,
        workspace_gb=options.workspace_gb,
        dla_core=options.dla_core,
        dynamic_batch=(1, max(1, options.max_batch // 2), options.max_batch) if options.dynamic_batch else None,
        calibration=calibration,
    )
    info = build_engine(request, trt=trt, log=log)
    log(f"wrote {request.engine} and {request.engine.name}.json (TensorRT {info['tensorrt']}, {info['gpu']})")
    return {"built": True, **{k: info[k] for k in ("tensorrt", "gpu", "compute_capability", "precision")}}
