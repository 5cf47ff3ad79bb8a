"""`edgeseg eval` output: a table on the terminal, a JSON file and a per-class bar chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from edgeseg.atomic import atomic_path, write_text_atomic
from edgeseg.errors import require
from edgeseg.eval.metrics import SegmentationMetrics


def print_metrics(metrics: SegmentationMetrics, title: str) -> None:
    table = Table(title=title)
    for column in ("class", "IoU", "recall (PA)", "precision", "F1 / Dice", "pixels"):
        table.add_column(column, justify="left" if column == "class" else "right")

    def fmt(value: float) -> str:
        return "—" if np.isnan(value) else f"{100 * value:.2f}"

    pixels = metrics.confusion.sum(1)
    for i, name in enumerate(metrics.class_names):
        table.add_row(
            name,
            fmt(metrics.iou[i]),
            fmt(metrics.recall[i]),
            fmt(metrics.precision[i]),
            fmt(metrics.f1[i]),
            f"{int(pixels[i]):,}",
        )
    summary = metrics.to_dict()
    table.add_section()
    table.add_row(
        "mean",
        fmt(summary["mIoU"]),
        fmt(summary["mRecall"]),
        fmt(summary["mPrecision"]),
        fmt(summary["mF1"]),
        "",
    )
    console = Console()
    console.print(table)
    console.print(
        f"mIoU {fmt(summary['mIoU'])}  mPA {fmt(summary['mPA'])}  mRecall {fmt(summary['mRecall'])}  "
        f"mPrecision {fmt(summary['mPrecision'])}  pixel accuracy {fmt(summary['pixel_accuracy'])}"
    )


def default_plot_path(checkpoint: Path, json_path: Path | None, split: str) -> Path:
    """Where the chart goes unless asked: beside the JSON, else in the checkpoint's run folder."""
    if json_path is not None:
        return json_path.with_suffix(".png")
    run_dir = checkpoint.resolve().parent
    run_dir = run_dir.parent if run_dir.name == "weights" else run_dir
    return run_dir / f"eval_{split}.png"


def write_json(path: Path, metrics: SegmentationMetrics, info: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps({**info, **metrics.to_dict()}, indent=2) + "\n")


def plot_per_class(path: Path, metrics: SegmentationMetrics, title: str) -> None:
    """Bars of IoU, recall and precision per class, with the mIoU as a line."""
    matplotlib = require("matplotlib", extra="train")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(metrics.class_names)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names) + 2), 4))
    for offset, (label, values) in zip(
        (-0.27, 0, 0.27), (("IoU", metrics.iou), ("recall", metrics.recall), ("precision", metrics.precision))
    ):
        ax.bar(x + offset, np.nan_to_num(values), width=0.27, label=label)
    ax.axhline(metrics.miou, color="black", linestyle="--", linewidth=1, label=f"mIoU {metrics.miou:.3f}")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
