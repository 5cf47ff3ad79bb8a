"""Run a PyTorch model over an evaluation split: the validation of `edgeseg train` and `edgeseg eval`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from edgeseg.eval.metrics import SegmentationMetrics, confusion_matrix
from edgeseg.runtime.preprocess import postprocess


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    batches: Iterable[dict[str, Any]],
    class_names: tuple[str, ...],
    device: torch.device,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[SegmentationMetrics, float]:
    """Metrics over the full-resolution labels, and the mean loss at network resolution.

    Logits become masks through the runtime's own `postprocess`, so these numbers are what a deployed
    model with the same weights scores. Under torch.distributed the counts are summed over ranks.
    """
    num_classes = len(class_names)
    was_training = model.training
    model.eval()
    confusion = np.zeros((num_classes, num_classes), np.int64)
    loss_sum, loss_count = 0.0, 0
    for batch in batches:
        logits = model(batch["input"].to(device, non_blocking=True)).float()
        if loss_fn is not None:
            loss_sum += float(loss_fn(logits, batch["target"].to(device))) * logits.shape[0]
            loss_count += logits.shape[0]
        # Argmax on the device; only a byte per pixel crosses to the CPU.
        classes = logits.argmax(1).to(torch.uint8).cpu().numpy()
        for class_map, label, placement in zip(classes, batch["labels"], batch["placements"]):
            confusion += confusion_matrix(postprocess(class_map, placement), label, num_classes)
    model.train(was_training)
    if dist.is_available() and dist.is_initialized():
        totals = torch.tensor(np.append(confusion.ravel(), [loss_sum, loss_count]), dtype=torch.float64)
        dist.all_reduce(totals)  # float64 counts are exact below 2**53 pixels
        confusion = totals[:-2].round().to(torch.int64).numpy().reshape(num_classes, num_classes)
        loss_sum, loss_count = float(totals[-2]), int(totals[-1])
    mean_loss = loss_sum / loss_count if loss_count else float("nan")
    return SegmentationMetrics(tuple(class_names), confusion), mean_loss
