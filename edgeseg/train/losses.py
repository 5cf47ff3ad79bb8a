"""Losses for segmentation, all ignoring label 255: cross-entropy, Dice and focal, combinable."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.data.voc import IGNORE_INDEX

LOSSES = ("ce", "dice", "focal")


class SegmentationLoss(nn.Module):
    """The sum of the named terms, e.g. "ce+dice". Class weights apply to CE and focal."""

    def __init__(
        self,
        spec: str,
        num_classes: int,
        class_weights: Sequence[float] | None = None,
        focal_gamma: float = 2.0,
    ) -> None:
        super().__init__()
        self.terms = parse_loss(spec)
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"class weights: {len(class_weights)} given for {num_classes} classes")
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        self.register_buffer("weight", weight)
        self.num_classes, self.focal_gamma = num_classes, focal_gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # losses in FP32 under autocast: log-softmax overflows in FP16
        total = logits.new_zeros(())
        if "ce" in self.terms:
            total = total + F.cross_entropy(logits, target, weight=self.weight, ignore_index=IGNORE_INDEX)
        if "focal" in self.terms:
            total = total + self._focal(logits, target)
        if "dice" in self.terms:
            total = total + self._dice(logits, target)
        return total

    def _focal(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits, target, weight=self.weight, ignore_index=IGNORE_INDEX, reduction="none")
        plain = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX, reduction="none")
        valid = target != IGNORE_INDEX
        focal = (1 - torch.exp(-plain)) ** self.focal_gamma * ce  # exp(-CE) is p of the true class
        return focal[valid].mean() if valid.any() else focal.sum() * 0

    def _dice(self, logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
        valid = (target != IGNORE_INDEX).unsqueeze(1)
        probs = logits.softmax(1) * valid
        one_hot = F.one_hot(target.clamp(max=self.num_classes - 1) * valid.squeeze(1), self.num_classes)
        one_hot = one_hot.permute(0, 3, 1, 2).to(probs.dtype) * valid
        dims = (0, 2, 3)
        intersection = (probs * one_hot).sum(dims)
        dice = (2 * intersection + smooth) / (probs.sum(dims) + one_hot.sum(dims) + smooth)
        return 1 - dice.mean()


def parse_loss(spec: str) -> tuple[str, ...]:
    terms = tuple(t.strip().lower() for t in spec.split("+") if t.strip())
    unknown = [t for t in terms if t not in LOSSES]
    if not terms or unknown:
        raise ValueError(f"loss must be terms from {', '.join(LOSSES)} joined by '+' (e.g. ce+dice), got {spec!r}")
    return terms
