"""`edgeseg eval`: metrics of a checkpoint on a dataset split, at full label resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeseg.errors import require
from edgeseg.schema import Field, check_options
from edgeseg.writable import check_writable

OPTIONS = {"subset": Field("int", low=1), "batch_size": Field("int", low=1), "workers": Field("int", low=0)}


def eval_command(
    checkpoint: Path = typer.Argument(..., help="A .pt from `edgeseg train` (best.pt or last.pt)."),
    data: Path = typer.Option(..., help="VOC-format dataset folder."),
    split: str = typer.Option("val", help="Split to evaluate."),
    subset: Optional[int] = typer.Option(None, help="Evaluate only the first N images of the split."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON here."),
    plot: Optional[Path] = typer.Option(None, help="Per-class bar chart PNG [default: beside the JSON or the run]."),
    device: str = typer.Option("auto", help="auto, cpu or cuda[:N]."),
    batch_size: int = typer.Option(4, help="Images per forward pass."),
    workers: int = typer.Option(2, help="DataLoader worker processes."),
) -> None:
    """Confusion matrix over the full-resolution labels; per-class IoU, recall, precision, F1; means."""
    from edgeseg.eval.report import default_plot_path

    check_options(OPTIONS, subset=subset, batch_size=batch_size, workers=workers)
    plot = plot or default_plot_path(checkpoint, json_path, split)
    for path, option in ((json_path, "--json"), (plot, "--plot")):
        if path is not None:
            check_writable(path, option, folder=False)
    require("torch", extra="train")
    from edgeseg.eval.checkpoint import evaluate_checkpoint
    from edgeseg.eval.report import plot_per_class, print_metrics, write_json

    result = evaluate_checkpoint(
        checkpoint, data, split=split, subset=subset, device=device, batch_size=batch_size, workers=workers
    )
    print_metrics(result.metrics, result.title)
    if json_path:
        write_json(json_path, result.metrics, result.info)
        typer.echo(f"metrics: {json_path}")
    plot_per_class(plot, result.metrics, result.title)
    typer.echo(f"per-class chart: {plot}")
