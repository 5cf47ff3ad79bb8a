"""What a training run leaves beside its weights: results.csv, TensorBoard events and curves.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from edgeseg.atomic import atomic_path, write_text_atomic
from edgeseg.errors import require

COLUMNS = (
    "epoch",
    "phase",
    "lr",
    "train_loss",
    "val_loss",
    "val_mIoU",
    "val_mPA",
    "val_pixel_accuracy",
    "seconds",
)


class RunLog:
    """Appends one row per epoch; on resume, keeps the rows of the epochs already done."""

    def __init__(self, run_dir: Path, resume_epoch: int = 0) -> None:
        self.run_dir = run_dir
        self.csv_path = run_dir / "results.csv"
        self.rows: list[dict[str, Any]] = []
        if resume_epoch and self.csv_path.is_file():
            with self.csv_path.open() as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= resume_epoch]
        tensorboard = require("torch.utils.tensorboard", extra="train")
        self.writer = tensorboard.SummaryWriter(log_dir=str(run_dir), purge_step=resume_epoch + 1)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.csv_path, buffer.getvalue())
        for key in COLUMNS[2:]:
            self.writer.add_scalar(
                key.replace("_", "/", 1) if key.startswith(("train", "val")) else key,
                float(row[key]),
                int(row["epoch"]),
            )
        self.writer.flush()
        self.plot()

    def plot(self) -> None:
        matplotlib = require("matplotlib", extra="train")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        epochs = [int(r["epoch"]) for r in self.rows]
        series = {key: [float(r[key]) for r in self.rows] for key in COLUMNS[2:8]}
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        axes[0].plot(epochs, series["train_loss"], "o-", label="train")
        axes[0].plot(epochs, series["val_loss"], "o-", label="val")
        axes[0].set_title("loss")
        axes[0].legend()
        axes[1].plot(epochs, series["val_mIoU"], "o-", label="mIoU")
        axes[1].plot(epochs, series["val_mPA"], "o-", label="mPA")
        axes[1].set_title("validation")
        axes[1].set_ylim(0, 1)
        axes[1].legend()
        axes[2].plot(epochs, series["lr"], "o-")
        axes[2].set_title("learning rate")
        axes[2].ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        with atomic_path(self.run_dir / "curves.png") as tmp:
            fig.savefig(tmp, dpi=90, format="png")
        plt.close(fig)

    def close(self) -> None:
        self.writer.close()
