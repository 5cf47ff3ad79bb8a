"""`edgeseg export`: checkpoint or ONNX in; ONNX (+ FP16, INT8), parity reports and an engine out."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.atomic import write_text_atomic
from edgeseg.errors import EdgesegError, MissingDependencyError, describe, require
from edgeseg.export.onnx_export import DEFAULT_OPSET, DEFAULT_OUTPUT
from edgeseg.export.parity import ParityReport, compare
from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgeseg.runtime.metadata import INPUT_NAME, ModelMetadata


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
    max_int8_drop: float = 1.0  # mIoU points an INT8 file may lose against FP32 before it is removed


class ParityFailure(EdgesegError):
    """The exported model does not predict what the source model predicts."""


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


def _onnx_predictor(path: Path) -> tuple[OnnxRuntimeBackend, Callable[[np.ndarray], np.ndarray]]:
    backend = OnnxRuntimeBackend(path, provider="cpu")
    name = backend.input_names[0]
    return backend, lambda x: backend.infer({name: x})[backend.output_names[0]]


def run_export(options: ExportOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Everything `edgeseg export` does; returns the report it also writes as export_report.json.

    What can be checked before anything is written is checked first (sources, --calib, --verify,
    --engine); a failed export leaves no output folder it created empty behind.
    """
    if not options.source.is_file():
        raise EdgesegError(f"source not found: {options.source}")
    if options.source.suffix not in (".pt", ".pth", ".onnx"):
        raise EdgesegError(f"SOURCE must be a checkpoint (.pt) or an ONNX file (.onnx), got {options.source.name}")
    if options.int8 and options.calib is None:
        raise EdgesegError("--int8 needs --calib DIR: a folder of representative images (or a VOC dataset)")
    if options.engine:
        from edgeseg.runtime.backends.tensorrt import import_tensorrt

        import_tensorrt()  # --engine demands one: say TensorRT is missing before exporting anything
    from edgeseg.export.verification import calibration_paths, check_verify_data

    if options.int8:
        calibration_paths(options.calib)
    if options.verify is not None:
        check_verify_data(options.verify)
    out = _planned_output_dir(options)
    created = not out.exists()
    try:
        return _export(options, _output_dir(out), log)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _export(options: ExportOptions, out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    onnx_path = out / "model.onnx"
    report: dict[str, Any] = {"source": str(options.source), "parity": [], "files": {}}

    if options.source.suffix == ".onnx":
        meta, reference = _from_onnx(options, onnx_path, log)
    else:
        meta, reference = _from_checkpoint(options, onnx_path, report, log)
    from edgeseg.export.verification import calibration_set, verification_set

    inputs, labels, described = verification_set(meta, options.verify, options.verify_images)
    log(f"parity on {described}")
    names = meta.class_names
    report["files"]["onnx"] = str(onnx_path)

    def check(name: str, path: Path, required: float | None) -> ParityReport | None:
        try:
            backend, predict = _onnx_predictor(path)
        except EdgesegError as exc:
            log(f"{name}: not run on ONNX Runtime CPU here ({exc})")
            report["parity"].append({"name": name, "not_run": str(exc)})
            return None
        with backend:
            try:
                result = compare(name, reference, predict, inputs, names, labels)
            except Exception as exc:
                log(f"{name}: ONNX Runtime CPU cannot run it ({describe(exc)})")
                report["parity"].append({"name": name, "not_run": describe(exc)})
                return None
        log(result.summary())
        report["parity"].append(result.to_dict())
        if result.nonfinite:
            path.unlink()  # an unusable file must not be mistaken for a good one later
            raise ParityFailure(f"{path.name} outputs NaN/inf ({result.nonfinite} values); removed it")
        if required is not None and result.argmax_agreement < required:
            path.unlink()
            raise ParityFailure(
                f"{path.name} agrees with the source on {100 * result.argmax_agreement:.3f}% of pixels, below "
                f"--min-agreement {100 * required:.3f}%; the export is not faithful, removed it (see the parity above)"
            )
        return result

    if reference is not None:
        check("onnx fp32 vs pytorch", onnx_path, options.min_agreement)
    else:
        _, reference = _onnx_predictor(onnx_path)  # variants are compared with the FP32 ONNX
    onnx_files = {"fp32": onnx_path}
    if options.fp16:
        from edgeseg.export.precision import convert_fp16

        onnx_files["fp16"] = out / "model.fp16.onnx"
        convert_fp16(onnx_path, onnx_files["fp16"])
        report["files"]["fp16"] = str(onnx_files["fp16"])
        check("onnx fp16 vs reference", onnx_files["fp16"], None)
    if options.int8:
        from edgeseg.export.precision import quantize_int8

        calibration = calibration_set(options.calib, meta, options.calib_images)
        log(f"INT8 calibration on {len(calibration)} images of {options.calib}")
        onnx_files["int8"] = out / "model.int8.onnx"
        quantize_int8(onnx_path, onnx_files["int8"], calibration, INPUT_NAME)
        report["files"]["int8"] = str(onnx_files["int8"])
        int8 = check("onnx int8 vs reference", onnx_files["int8"], None)
        report["calibration_images"] = len(calibration)
        if int8 is not None:
            from edgeseg.export.precision import int8_verdict

            refusal = int8_verdict(int8, options.max_int8_drop)
            if refusal:  # the FP32 (and FP16) files stand; an INT8 engine is not built from a refused file
                onnx_files.pop("int8").unlink()
                report["files"].pop("int8")
                report["int8_refused"] = refusal
                write_text_atomic(out / "export_report.json", json.dumps(report, indent=2) + "\n")
                raise ParityFailure(f"removed model.int8.onnx: {refusal}")
    else:
        calibration = []

    report["engine"] = _engine(options, out, onnx_files, meta, calibration, log)
    write_text_atomic(out / "export_report.json", json.dumps(report, indent=2) + "\n")
    return report


def _from_checkpoint(options: ExportOptions, onnx_path: Path, report: dict[str, Any], log: Callable[[str], None]):
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
        model, meta, onnx_path, opset=options.opset, dynamic_batch=options.dynamic_batch, output=options.output, log=log
    )
    meta = replace(meta, output=options.output)
    for warning in done["warnings"]:
        log(f"warning: {warning}")
    log(
        f"wrote {onnx_path} ({done['output']} out, opset {done['opset']}, {done['exporter']} exporter, "
        f"{done['nodes']} nodes, checker passed)"
    )
    report["onnx"] = done
    model.eval()

    @torch.no_grad()
    def reference(x: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(x)).numpy()

    return meta, reference


def _from_onnx(options: ExportOptions, onnx_path: Path, log: Callable[[str], None]):
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
    check_interface(proto, str(options.source))
    for warning in check_resize_nodes(proto):
        log(f"warning: {warning}")
    meta = ModelMetadata.from_onnx_props({p.key: p.value for p in proto.metadata_props}, str(options.source))
    meta.check_outputs(output_classes(_output_shape(proto)), str(options.source))
    check_verify_classes(options.verify, meta)
    if options.source.resolve() != onnx_path.resolve():
        onnx.save(proto, str(onnx_path))
    return meta, None


def _output_shape(proto: Any) -> list[Any]:
    """The first graph output's shape: ints for fixed axes, names for dynamic ones."""
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]


def _engine(
    options: ExportOptions,
    out: Path,
    onnx_files: dict[str, Path],
    meta: ModelMetadata,
    calibration: list[np.ndarray],
    log: Callable[[str], None],
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
