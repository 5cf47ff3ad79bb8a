"""`edgeseg eval`: metrics of a checkpoint or an exported model file on a dataset split, at full label resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeseg.errors import EdgesegError, MissingDependencyError, require
from edgeseg.runtime.backends.providers import EXAMPLES, check_provider
from edgeseg.schema import Field, check_options
from edgeseg.writable import check_writable

OPTIONS = {"subset": Field("int", low=1), "batch_size": Field("int", low=1), "workers": Field("int", low=0)}
MODEL_FILES = (".onnx", ".engine", ".plan")  # edgeseg.eval.model_file.MODEL_FILE_SUFFIXES


def eval_command(
    model: Path = typer.Argument(
        ..., help="A .pt from `edgeseg train` (best.pt or last.pt), or an exported .onnx or TensorRT .engine."
    ),
    data: Path = typer.Option(..., help="VOC-format dataset folder."),
    split: str = typer.Option("val", help="Split to evaluate."),
    subset: Optional[int] = typer.Option(None, help="Evaluate only the first N images of the split."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON here."),
    plot: Optional[Path] = typer.Option(None, help="Per-class bar chart PNG [default: beside the JSON or the model]."),
    device: str = typer.Option("auto", help="A checkpoint's device: auto, cpu or cuda[:N]."),
    provider: Optional[str] = typer.Option(
        None, help=f"An .onnx file's backend, as for `edgeseg run`: {EXAMPLES} [default: as `edgeseg run`]."
    ),
    precision: Optional[str] = typer.Option(None, help="OpenVINO's precision hint: f32, bf16 or f16."),
    threads: Optional[int] = typer.Option(None, help="An .onnx file's CPU threads [default: one per core]."),
    batch_size: int = typer.Option(4, help="Images per forward pass."),
    workers: int = typer.Option(2, help="A checkpoint's DataLoader worker processes."),
) -> None:
    """Confusion matrix over the full-resolution labels; per-class IoU, recall, precision, F1; means.

    A model file (.onnx, .engine) runs through the runtime's own pre- and post-processing and backend, so its
    numbers are what the deployed file scores; compare them with its checkpoint's."""
    from edgeseg.eval.report import default_plot_path

    check_options({**OPTIONS, "threads": Field("int", low=1)}, subset=subset, batch_size=batch_size, workers=workers,
                  threads=threads)  # fmt: skip
    check_provider(provider, precision)
    model_file = model.suffix.lower() in MODEL_FILES
    if not model_file and (provider or precision):
        option = "--precision" if precision else "--provider"
        raise EdgesegError(f"{option} is for an .onnx file; {model.name} is evaluated with PyTorch (--device)")
    plot_given = plot is not None
    plot = plot or default_plot_path(model, json_path, split)
    for path, option in ((json_path, "--json"), (plot, "--plot")):
        if path is not None:
            check_writable(path, option, folder=False)
    from edgeseg.eval.report import plot_per_class, print_metrics, write_json

    if model_file:
        from edgeseg.eval.model_file import evaluate_model_file

        result = evaluate_model_file(
            model, data, split=split, subset=subset, batch_size=batch_size, provider=provider, precision=precision,
            threads=threads,
        )  # fmt: skip
    else:
        require("torch", extra="train")
        from edgeseg.eval.checkpoint import evaluate_checkpoint

        result = evaluate_checkpoint(
            model, data, split=split, subset=subset, device=device, batch_size=batch_size, workers=workers
        )
    print_metrics(result.metrics, result.title)
    if json_path:
        write_json(json_path, result.metrics, result.info)
        typer.echo(f"metrics: {json_path}")
    try:
        plot_per_class(plot, result.metrics, result.title)
    except MissingDependencyError as exc:
        if plot_given or not model_file:
            raise
        typer.echo(f"no per-class chart: {exc}", err=True)  # a model file is evaluated without the training extras
        return
    typer.echo(f"per-class chart: {plot}")
