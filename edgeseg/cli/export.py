"""`edgeseg export`: checkpoint → ONNX (+ FP16 / INT8) → TensorRT engine, with parity reports."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeseg.cli.options import given_options, parse_size
from edgeseg.runtime.metadata import EXPORT_OUTPUTS, INT8_PLACEMENTS
from edgeseg.schema import Field, check_options, one_of
from edgeseg.writable import check_writable

OPTIONS = {
    "calib_images": Field("int", low=1),
    "max_batch": Field("int", low=1),
    "verify_images": Field("int", low=1),
    "min_agreement": Field("float", low=0, high=1, low_open=True),
    "workspace": Field("float", low=0, low_open=True),
    "dla_core": Field("int", low=0),
    "size": Field("size", low=16),
    "output": one_of(EXPORT_OUTPUTS),
    "max_int8_drop": Field("float", low=0),
    "int8_placement": one_of(INT8_PLACEMENTS),
}


def export(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="A checkpoint (.pt) from `edgeseg train`, or an ONNX file it exported."),
    fp16: bool = typer.Option(False, "--fp16", help="FP16 engine, and model.fp16.onnx beside the FP32 one."),
    int8: bool = typer.Option(False, "--int8", help="INT8: model.int8.onnx (QDQ) and an INT8 engine; needs --calib."),
    calib: Optional[Path] = typer.Option(None, help="Calibration images: a folder of images or a VOC dataset."),
    calib_images: int = typer.Option(64, help="At most this many calibration images."),
    int8_placement: str = typer.Option(
        "tensorrt",
        help="Where INT8's Q/DQ pairs go: tensorrt (after each fused ReLU, as TensorRT runs it; the accurate one) "
        "or onnxruntime (ONNX Runtime's own, which its CPU kernels fuse: faster on a CPU, less accurate).",
    ),
    opset: int = typer.Option(17, help="ONNX opset (17 reads on TensorRT 8.6 / JetPack 5)."),
    size: Optional[str] = typer.Option(None, help="Input size S or HxW [default: the checkpoint's training size]."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Dynamic batch axis (engine profile 1…max)."),
    max_batch: int = typer.Option(8, help="Largest batch of the --dynamic-batch engine profile."),
    verify: Optional[Path] = typer.Option(None, help="VOC dataset whose val split scores parity (mIoU, ΔmIoU)."),
    verify_images: int = typer.Option(32, help="At most this many verification images."),
    min_agreement: float = typer.Option(0.999, help="Fail when FP32 ONNX argmax agreement is below this share."),
    output: str = typer.Option(
        "classes", help="Network output: classes (argmax in the graph, fastest to deploy) or logits (raw scores)."
    ),
    confidence: bool = typer.Option(
        False,
        "--confidence",
        help="With --output classes: the top class's probability per pixel as a second output (edgeseg run's "
        "--confidence, the API's result.confidence).",
    ),
    max_int8_drop: float = typer.Option(
        1.0, help="Remove model.int8.onnx if it loses more mIoU points than this against FP32 (unlabelled: % pixels)."
    ),
    engine: Optional[bool] = typer.Option(
        None,
        "--engine/--no-engine",
        help="Demand (or skip) the TensorRT engine [default: build it if TensorRT is here].",
    ),
    workspace: float = typer.Option(4.0, help="TensorRT builder workspace limit in GB."),
    dla_core: Optional[int] = typer.Option(None, help="Build for this DLA core (Jetson Xavier/Orin), GPU fallback on."),
    out: Optional[Path] = typer.Option(None, help="Output folder [default: runs/<name>/export, or the ONNX's folder]."),
) -> None:
    """Export a model; parity (argmax agreement, ΔmIoU) is checked on every file it writes."""
    from edgeseg.export.onnx_export import OPSETS
    from edgeseg.export.steps import ExportOptions, run_export

    # Every value is checked before the exporter runs: a bad --opset must not print its traces first.
    schema = {**OPTIONS, "opset": Field("int", low=OPSETS.start, high=OPSETS[-1])}
    check_options(schema, **{name: ctx.params[name] for name in schema})
    if out is not None:
        check_writable(out, "--out", folder=True)
    settings = given_options(ctx, rename={"workspace": "workspace_gb"})
    if size:
        settings["size"] = parse_size(size)
    report = run_export(ExportOptions(**settings), log=typer.echo)
    files = ", ".join(Path(p).name for p in report["files"].values())
    typer.echo(f"done: {files}; report in {Path(report['files']['onnx']).parent / 'export_report.json'}")
