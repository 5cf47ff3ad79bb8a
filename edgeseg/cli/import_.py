"""`edgeseg import`: an ONNX segmentation model from another tool, given edgeseg's metadata (graph untouched)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeseg.cli.options import parse_size
from edgeseg.runtime.metadata import OUTPUT_KINDS, RESIZE_MODES
from edgeseg.schema import Field, check_options, check_value, one_of
from edgeseg.writable import check_writable

OPTIONS = {"resize": one_of(RESIZE_MODES), "output": one_of(OUTPUT_KINDS)}


def import_command(
    model: Path = typer.Argument(..., help="An .onnx segmentation model from another tool (smp, mmseg, torchvision…)."),
    classes: Path = typer.Option(..., help="Text file: one class name per line, in the order of the output channels."),
    mean: str = typer.Option(
        ..., help="Per-channel mean R,G,B the model was trained with: 0–1 (0.485,0.456,0.406) or 0–255 (mmseg's)."
    ),
    std: str = typer.Option(..., help="Per-channel std R,G,B, on the same scale as --mean."),
    out: Path = typer.Option(..., help="The .onnx to write: a copy of MODEL with edgeseg's metadata."),
    size: Optional[str] = typer.Option(None, help="Input size HxW; needed where the model's input size is dynamic."),
    resize: str = typer.Option("letterbox", help="How images meet the input size: letterbox (keep aspect) or resize."),
    bgr: bool = typer.Option(False, "--bgr", help="The model takes BGR (OpenCV order); --mean/--std are then B,G,R."),
    output: str = typer.Option(
        "logits", help="What the model returns: logits (N×C×H×W), probs (a softmax in the graph) or classes (argmax)."
    ),
    palette: Optional[Path] = typer.Option(None, help="Text file: one R,G,B colour per class [default: VOC's]."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
) -> None:
    """Check an ONNX model from another tool (runs it once on a generated image) and write a copy carrying
    edgeseg's metadata: then edgeseg run, eval, bench, the API and `edgeseg export` (TensorRT) work on it."""
    from edgeseg.export.import_onnx import ImportRequest, import_onnx

    check_options(OPTIONS, resize=resize, output=output)
    values = {name: check_value(name, Field("floats"), text) for name, text in (("mean", mean), ("std", std))}
    request = ImportRequest(
        source=model, classes=classes, out=out, mean=tuple(values["mean"]), std=tuple(values["std"]),
        size=parse_size(size) if size else None, resize=resize, bgr=bgr, output=output, palette=palette, force=force,
    )  # fmt: skip
    check_writable(out, "--out", folder=False)
    import_onnx(request, log=typer.echo)
    typer.echo(f"run it: edgeseg run --model {out} --source IMAGES; build a TensorRT engine: edgeseg export {out}")
