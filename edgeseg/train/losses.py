"""Losses for segmentation, all ignoring label 255: cross-entropy (or its OHEM form), Dice and focal, combinable.

A model with training-only heads (PIDNet) returns {"out", "aux", "boundary"} in training; the loss then adds
the paper's terms with the paper's weights (Xu et al., CVPR 2023): cross-entropy on the auxiliary head × 0.4,
weighted binary cross-entropy on boundaries derived from the labels × 20, and the boundary-aware
cross-entropy × 1 (edgeseg/train/boundary.py). The chosen terms (--loss) apply to the final logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.data.voc import IGNORE_INDEX
from edgeseg.train.boundary import boundary_aware_target, label_boundaries, weighted_boundary_bce

LOSSES = ("ce", "ohem", "dice", "focal")
AUX_WEIGHT = 0.4  # the paper's λ0: the P branch's auxiliary head
BOUNDARY_WEIGHT = 20.0  # λ1: the D branch's boundary head
BOUNDARY_AWARE_WEIGHT = 1.0  # λ3: the final head's CE on the pixels the boundary head marks
OHEM_THRESHOLD = 0.7  # OHEM keeps the pixels whose true class has a probability below this…
OHEM_MIN_KEPT = 1 / 16  # …and at least this share of the labelled pixels, the hardest first


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

    def forward(self, outputs: torch.Tensor | dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """The loss of a model's output: logits, or the {"out", "aux", "boundary"} of a model with training-only
        heads, whose terms are then added with the paper's weights."""
        if not isinstance(outputs, dict):
            return self._terms(outputs, target)
        logits = outputs["out"]
        total = self._terms(logits, target)
        if "aux" in outputs:
            total = total + AUX_WEIGHT * self._cross_entropy(outputs["aux"].float(), target)
        if "boundary" in outputs:
            boundary = outputs["boundary"].float()
            total = total + BOUNDARY_WEIGHT * weighted_boundary_bce(boundary, label_boundaries(target))
            total = total + BOUNDARY_AWARE_WEIGHT * self._cross_entropy(
                logits.float(), boundary_aware_target(target, boundary)
            )
        return total

    def _cross_entropy(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """CE, or OHEM's when it is the chosen term; 0 (with a gradient) when no pixel is labelled."""
        if "ohem" in self.terms:
            return self._ohem(logits, target)
        if not (target != IGNORE_INDEX).any():
            return logits.sum() * 0
        return F.cross_entropy(logits, target, weight=self.weight, ignore_index=IGNORE_INDEX)

    def _terms(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # losses in FP32 under autocast: log-softmax overflows in FP16
        total = logits.new_zeros(())
        if "ce" in self.terms:
            total = total + F.cross_entropy(logits, target, weight=self.weight, ignore_index=IGNORE_INDEX)
        if "ohem" in self.terms:
            total = total + self._ohem(logits, target)
        if "focal" in self.terms:
            total = total + self._focal(logits, target)
        if "dice" in self.terms:
            total = total + self._dice(logits, target)
        return total

    def _ohem(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Online hard example mining: the mean CE over the labelled pixels whose true class has a probability
        below OHEM_THRESHOLD, or over the hardest OHEM_MIN_KEPT of them if those are fewer."""
        ce = F.cross_entropy(logits, target, weight=self.weight, ignore_index=IGNORE_INDEX, reduction="none")
        valid = target != IGNORE_INDEX
        if not valid.any():
            return ce.sum() * 0
        losses = ce[valid]
        # -log(threshold): a pixel is hard when its unweighted CE is above it (its probability below the threshold).
        plain = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX, reduction="none")[valid]
        hard = plain > -math.log(OHEM_THRESHOLD)
        kept = max(1, math.ceil(OHEM_MIN_KEPT * losses.numel()))
        if int(hard.sum()) >= kept:
            return losses[hard].mean()
        return losses[plain.topk(kept).indices].mean()

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
    if "ce" in terms and "ohem" in terms:
        raise ValueError(f"ohem is cross-entropy on the hard pixels: take ce or ohem, not both (got {spec!r})")
    return terms
