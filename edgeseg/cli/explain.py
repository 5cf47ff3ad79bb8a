"""`edgeseg explain`: Grad-CAM heatmaps of what a checkpoint looked at to predict a class."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeseg.errors import EdgesegError, require
from edgeseg.writable import check_writable


def explain_command(
    checkpoint: Path = typer.Argument(..., help="A .pt from `edgeseg train`."),
    images: Optional[Path] = typer.Argument(None, help="An image, or a folder of images."),
    class_name: Optional[str] = typer.Option(None, "--class", help="The class to explain (a name from the model)."),
    layer: Optional[str] = typer.Option(
        None, help="Layer the row figure explains (with --sweep: the last panel) [default: the decoder's last layer]."
    ),
    sweep: bool = typer.Option(
        False, "--sweep", help="Also draw every encoder layer's CAM, shallow to deep, then the row figure's layer."
    ),
    method: str = typer.Option("gradcam", help="gradcam, gradcam++, xgradcam or hirescam."),
    mask_from: Optional[Path] = typer.Option(None, help="Explain the mask a deployed .onnx/.engine predicts."),
    out: Path = typer.Option(
        Path("runs/explain"), help="Folder for the figures and raw CAMs, named after each image's file name."
    ),
    overwrite: bool = typer.Option(
        False, "--force", help="Replace files an earlier run wrote to --out under the same names [default: refuse]."
    ),
    list_layers: bool = typer.Option(False, "--list-layers", help="List the layers --layer accepts and exit."),
) -> None:
    """Mask-weighted Grad-CAM: which pixels made the network predict --class where it did."""
    if not list_layers:
        check_writable(out, "--out", folder=True)
    require("torch", extra="train")
    from edgeseg.explain.explainer import ExplainRequest, explain_images
    from edgeseg.explain.layers import layer_listing
    from edgeseg.train.checkpoint import model_from_checkpoint

    model, meta, _ = model_from_checkpoint(checkpoint)
    if list_layers:
        typer.echo("\n".join(layer_listing(model)))
        return
    if images is None or class_name is None:
        raise EdgesegError("pass IMAGE (or a folder) and --class NAME, or --list-layers")
    request = ExplainRequest(checkpoint, images, class_name, layer, sweep, method, mask_from, out, overwrite)
    explain_images(model, meta, request, log=typer.echo, warn=lambda line: typer.echo(line, err=True))
