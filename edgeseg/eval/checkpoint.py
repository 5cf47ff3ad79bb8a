"""Evaluate a saved checkpoint on a dataset split: what `edgeseg eval` runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgeseg.data.loader import EvalDataset, SampleStore, collate_eval
from edgeseg.data.voc import load_split
from edgeseg.data.workers import SignalSafeLoader
from edgeseg.errors import EdgesegError
from edgeseg.eval.evaluate import evaluate
from edgeseg.eval.metrics import SegmentationMetrics
from edgeseg.train.checkpoint import model_from_checkpoint
from edgeseg.train.distributed import Distributed, resolve_device


@dataclass
class CheckpointEvaluation:
    metrics: SegmentationMetrics
    title: str  # "<model> (<upsample>) on <split>, <N> images": for the table and the chart
    info: dict[str, Any]  # what was evaluated, written beside the metrics in the JSON


def evaluate_checkpoint(
    checkpoint: Path,
    data: Path,
    *,
    split: str = "val",
    subset: int | None = None,
    device: str = "auto",
    batch_size: int = 4,
    workers: int = 2,
) -> CheckpointEvaluation:
    """Metrics of `checkpoint` on `data`'s `split` (its first `subset` images), at full label resolution.

    Images are pre-processed as the checkpoint's metadata says, as a deployed model would see them.
    """
    model, meta, _ = model_from_checkpoint(checkpoint)
    dataset_split = load_split(data, split)
    if subset is not None:
        dataset_split = replace(dataset_split, samples=dataset_split.samples[:subset])
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
    loader = SignalSafeLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_eval)
    metrics, _ = evaluate(model, loader, tuple(meta.class_names), torch_device)
    info = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "split": split,
        "images": len(dataset),
        "model": meta.model,
        "upsample": meta.upsample,
        "input_size": meta.input_size,
    }
    return CheckpointEvaluation(metrics, f"{meta.model} ({meta.upsample}) on {split}, {len(dataset)} images", info)
