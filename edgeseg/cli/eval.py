"""`edgeseg eval`: metrics of a checkpoint on a dataset split, at full label resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeseg.errors import EdgesegError, require
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
    check_options(OPTIONS, subset=subset, batch_size=batch_size, workers=workers)
    if plot is None:
        run_dir = checkpoint.resolve().parent
        run_dir = run_dir.parent if run_dir.name == "weights" else run_dir
        plot = json_path.with_suffix(".png") if json_path else run_dir / f"eval_{split}.png"
    for path, option in ((json_path, "--json"), (plot, "--plot")):
        if path is not None:
            check_writable(path, option, folder=False)
    require("torch", extra="train")
    from torch.utils.data import DataLoader

    from edgeseg.data.loader import EvalDataset, SampleStore, collate_eval
    from edgeseg.data.voc import load_split
    from edgeseg.eval.evaluate import evaluate
    from edgeseg.eval.report import plot_per_class, print_metrics, write_json
    from edgeseg.train.checkpoint import model_from_checkpoint
    from edgeseg.train.distributed import Distributed, resolve_device

    model, meta, _ = model_from_checkpoint(checkpoint)
    dataset_split = load_split(data, split)
    if subset is not None:
        dataset_split = type(dataset_split)(
            dataset_split.root, split, dataset_split.class_names, dataset_split.samples[:subset]
        )
    if dataset_split.num_classes != meta.num_classes:
        raise EdgesegError(
            f"{checkpoint} predicts {meta.num_classes} classes but {data} has "
            f"{dataset_split.num_classes}; evaluate on the dataset it was trained for"
        )
    torch_device = resolve_device(device, Distributed())
    model.to(torch_device)
    dataset = EvalDataset(
        SampleStore(dataset_split),
        tuple(meta.input_size),
        mean=tuple(meta.mean),
        std=tuple(meta.std),
        resize=meta.resize,
    )
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_eval)
    metrics, _ = evaluate(model, loader, tuple(meta.class_names), torch_device)
    title = f"{meta.model} ({meta.upsample}) on {split}, {len(dataset)} images"
    print_metrics(metrics, title)
    info = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "split": split,
        "images": len(dataset),
        "model": meta.model,
        "upsample": meta.upsample,
        "input_size": meta.input_size,
    }
    if json_path:
        write_json(json_path, metrics, info)
        typer.echo(f"metrics: {json_path}")
    plot_per_class(plot, metrics, title)
    typer.echo(f"per-class chart: {plot}")
