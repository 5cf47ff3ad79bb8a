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
        None, help="Layer to explain (with --sweep: added after the encoder's) [default: the deepest encoder layer]."
    ),
    sweep: bool = typer.Option(False, "--sweep", help="Also draw every encoder layer's CAM, shallow to deep."),
    method: str = typer.Option("gradcam", help="gradcam, gradcam++, xgradcam or hirescam."),
    mask_from: Optional[Path] = typer.Option(None, help="Explain the mask a deployed .onnx/.engine predicts."),
    out: Path = typer.Option(Path("runs/explain"), help="Folder for the figures and raw CAMs."),
    list_layers: bool = typer.Option(False, "--list-layers", help="List the layers --layer accepts and exit."),
) -> None:
    """Mask-weighted Grad-CAM: which pixels made the network predict --class where it did."""
    if not list_layers:
        check_writable(out, "--out", folder=True)
    require("torch", extra="train")
    from edgeseg.data.voc import DataError
    from edgeseg.explain.cam import METHODS, ClassAbsent, conv_layers, encoder_layers
    from edgeseg.explain.explainer import explain_file, pick_class
    from edgeseg.runtime.media import IMAGE_SUFFIXES
    from edgeseg.train.checkpoint import model_from_checkpoint

    model, meta, _ = model_from_checkpoint(checkpoint)
    encoder = encoder_layers(model)
    if list_layers:
        typer.echo("encoder layers, shallow to deep (--sweep draws all of them; the last is the default):")
        for name, label in encoder.items():
            typer.echo(f"  {name:40s} {label}")
        typer.echo("other conv layers (any module name works with --layer):")
        for name, conv in conv_layers(model):
            if not name.startswith("backbone."):
                typer.echo(f"  {name:40s} {conv.out_channels} channels")
        return
    if images is None or class_name is None:
        raise EdgesegError("pass IMAGE (or a folder) and --class NAME, or --list-layers")
    if method not in METHODS:
        raise EdgesegError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    pick_class(meta, class_name)
    if not images.exists():
        raise EdgesegError(f"not found: {images}")
    paths = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if images.is_dir() else [images]
    if not paths:
        raise EdgesegError(f"no images in {images}")
    # The row figure explains the last of these: --layer, else the deepest encoder layer. --sweep draws the
    # encoder shallow to deep, then --layer (a decoder layer, say) as the last panel.
    labels = dict(encoder) if sweep else {}
    if layer:
        labels.pop(layer, None)
        labels[layer] = encoder.get(layer, layer)
    elif not sweep:
        labels = dict([list(encoder.items())[-1]])
    deployed = None
    if mask_from is not None:
        from edgeseg.runtime.backends import open_model
        from edgeseg.runtime.segmenter import Segmenter

        backend = open_model(mask_from)
        deployed_meta = backend.metadata
        if deployed_meta.class_names != meta.class_names or deployed_meta.input_size != meta.input_size:
            raise EdgesegError(f"{mask_from} was not exported from {checkpoint} (classes or input size differ)")
        deployed = Segmenter(backend)
    explained, unreadable = 0, []
    for path in paths:
        try:
            result = explain_file(
                model, meta, path, class_name, labels, method=method, sweep=sweep, out=out, deployed=deployed
            )
        except DataError as exc:  # an unreadable image: skipped and counted, as `edgeseg run` does
            if not images.is_dir():
                raise
            unreadable.append(path.name)
            typer.echo(f"warning: skipped {path.name}: {exc}", err=True)
            continue
        except ClassAbsent:
            source = f"{mask_from.name}'s" if mask_from else "the model's"
            typer.echo(f"{path.name}: no {class_name!r} in {source} prediction, nothing to explain")
            continue
        explained += 1
        iou = (
            f"; IoU of {class_name} between PyTorch and {mask_from.name}: {result.deployed_iou:.4f}"
            if mask_from
            else ""
        )
        typer.echo(f"{path.name}: {', '.join(f.name for f in result.files)}{iou}")
    skipped = f"; skipped {len(unreadable)} unreadable file(s): {', '.join(unreadable)}" if unreadable else ""
    if not explained:
        if len(unreadable) == len(paths):
            raise EdgesegError(f"no image in {images} could be read{skipped}")
        raise EdgesegError(f"{class_name!r} is absent from every prediction: nothing explained{skipped}")
    typer.echo(f"wrote {explained} explanation(s) to {out}{skipped}")
