"""`edgeseg quickstart`: data → train → eval → export → run → explain → bench on built-in data, in minutes."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeseg.errors import EdgesegError, require
from edgeseg.schema import Field, check_options
from edgeseg.writable import check_writable

OPTIONS = {"epochs": Field("int", low=1), "images": Field("int", low=10), "size": Field("int", low=32)}


def quickstart(
    out: Path = typer.Option(Path("runs/quickstart"), help="Folder for everything the quickstart makes."),
    model: str = typer.Option("deeplabv3plus_mobilenetv2", help="Model to train (see `edgeseg models`)."),
    epochs: int = typer.Option(15, help="Training epochs (about 14 s each on a 2-core CPU at the default size)."),
    images: int = typer.Option(200, help="Images in the synthetic dataset."),
    size: int = typer.Option(128, help="Image and training size in pixels."),
) -> None:
    """The whole product end to end on a synthetic dataset, each step shown as the command that does it."""
    check_options(OPTIONS, epochs=epochs, images=images, size=size)
    check_writable(out, "--out", folder=True)
    for extra, module in (("train", "torch"), ("export", "onnxruntime"), ("cv", "cv2")):
        require(module, extra=extra)
    from edgeseg.models import list_models
    from edgeseg.tour import QuickstartOptions, run_quickstart

    if model not in list_models():
        raise EdgesegError(f"unknown model {model!r}; choose from {', '.join(list_models())}")
    run_quickstart(QuickstartOptions(out=out, model=model, images=images, size=size, epochs=epochs), log=typer.echo)
