"""Losses ignore 255 and behave as their definitions say; LR schedules hit their landmarks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from edgeseg.train.losses import SegmentationLoss
from edgeseg.train.schedule import learning_rate


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 3, 8, 8, generator=g)
    target = torch.randint(0, 3, (2, 8, 8), generator=g)
    target[:, :2] = 255
    return logits, target


def test_ce_is_torch_ce_with_ignore_and_weights():
    logits, target = batch()
    loss = SegmentationLoss("ce", 3, class_weights=[1.0, 2.0, 0.5])
    expected = F.cross_entropy(logits, target, weight=torch.tensor([1.0, 2.0, 0.5]), ignore_index=255)
    assert torch.allclose(loss(logits, target), expected)


def test_ignored_pixels_do_not_matter():
    logits, target = batch()
    changed = logits.clone()
    changed[:, :, :2] = 100 * torch.randn_like(changed[:, :, :2])
    for spec in ("ce", "dice", "focal", "ce+dice"):
        loss = SegmentationLoss(spec, 3)
        assert torch.allclose(loss(logits, target), loss(changed, target)), spec


def test_dice_is_near_zero_for_a_perfect_prediction():
    _, target = batch()
    logits = 50 * F.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2).float()
    assert SegmentationLoss("dice", 3)(logits, target) < 1e-3


def test_focal_is_below_ce_and_sum_is_additive():
    logits, target = batch()
    ce, focal = SegmentationLoss("ce", 3)(logits, target), SegmentationLoss("focal", 3)(logits, target)
    assert 0 < focal < ce
    both = SegmentationLoss("ce+focal", 3)(logits, target)
    assert torch.allclose(both, ce + focal)


def test_bad_loss_names_and_weights():
    with pytest.raises(ValueError, match="joined by"):
        SegmentationLoss("ce+lovasz", 3)
    with pytest.raises(ValueError, match="2 given for 3 classes"):
        SegmentationLoss("ce", 3, class_weights=[1, 2])


def test_schedules():
    assert learning_rate("cosine", 1.0, 0.0, 10, warmup_epochs=1) == pytest.approx(0.1)
    assert learning_rate("cosine", 1.0, 1.0, 10, warmup_epochs=1) == pytest.approx(1.0)
    assert learning_rate("cosine", 1.0, 10.0, 10, warmup_epochs=1) == pytest.approx(0.01)
    assert learning_rate("step", 5e-5, 3.5, 50) == pytest.approx(5e-5 * 0.94**3)
    assert learning_rate("poly", 1.0, 5.0, 10) == pytest.approx(0.5**0.9)
    values = [learning_rate("cosine", 1.0, e / 4, 10) for e in range(41)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert not math.isnan(learning_rate("cosine", 1.0, 0.0, 1, warmup_epochs=5))
