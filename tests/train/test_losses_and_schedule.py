"""Losses ignore 255 and behave as their definitions say (PIDNet's boundary terms and OHEM too); LR schedules hit
their landmarks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from edgeseg.train.boundary import boundary_aware_target, label_boundaries, weighted_boundary_bce
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


def test_boundaries_are_the_pixels_near_a_label_change():
    target = torch.zeros(1, 10, 12, dtype=torch.long)
    target[:, :, 6:] = 2
    target[:, 0, :] = 255  # an ignore band is a region of its own: its edge is a boundary too
    marked = label_boundaries(target, radius=2)[0]
    assert marked[5:, 4:8].all() and not marked[5:, :4].any() and not marked[5:, 8:].any()
    assert marked[1:3].all() and not marked[3:, :4].any()
    assert marked.dtype == torch.bool and marked.shape == (10, 12)


def test_weighted_bce_balances_boundary_and_other_pixels():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 6, 6, generator=g)
    boundaries = torch.zeros(2, 6, 6, dtype=torch.bool)
    boundaries[:, 2] = True  # 12 of 72 pixels
    positive = boundaries.unsqueeze(1).float()
    per_pixel = F.binary_cross_entropy_with_logits(logits, positive, reduction="none")
    expected = (per_pixel * torch.where(positive > 0, 60 / 72, 12 / 72)).mean()
    assert torch.allclose(weighted_boundary_bce(logits, boundaries), expected)


def test_boundary_aware_target_keeps_labels_where_the_head_is_sure():
    target = torch.tensor([[[0, 1, 2, 1]]])
    boundary = torch.tensor([[[[3.0, 1.0, -5.0, 1.5]]]])  # sigmoid: 0.95, 0.73, 0.01, 0.82
    assert boundary_aware_target(target, boundary).tolist() == [[[0, 255, 255, 1]]]


def test_training_heads_add_the_papers_terms():
    logits, target = batch()
    g = torch.Generator().manual_seed(1)
    aux, boundary = torch.randn(2, 3, 8, 8, generator=g), 3 * torch.randn(2, 1, 8, 8, generator=g)
    loss = SegmentationLoss("ce", 3)
    ce = F.cross_entropy
    expected = (
        ce(logits, target, ignore_index=255)
        + 0.4 * ce(aux, target, ignore_index=255)
        + 20 * weighted_boundary_bce(boundary, label_boundaries(target))
        + 1.0 * ce(logits, boundary_aware_target(target, boundary), ignore_index=255)
    )
    total = loss({"out": logits, "aux": aux, "boundary": boundary}, target)
    assert torch.allclose(total, expected)
    assert torch.allclose(loss({"out": logits}, target), loss(logits, target))


def test_a_boundary_head_sure_of_nothing_adds_no_nan():
    logits, target = batch()
    logits.requires_grad_(True)
    outputs = {"out": logits, "aux": logits, "boundary": torch.full((2, 1, 8, 8), -10.0)}
    total = SegmentationLoss("ce", 3)(outputs, target)
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(logits.grad).all()


def test_ohem_averages_the_hard_pixels_or_the_hardest_share():
    logits, target = batch()
    valid = target != 255
    pixel_ce = F.cross_entropy(logits, target, ignore_index=255, reduction="none")[valid]
    hard = pixel_ce > -math.log(0.7)
    assert 8 < int(hard.sum()) < valid.sum()  # the batch has easy pixels to drop
    assert torch.allclose(SegmentationLoss("ohem", 3)(logits, target), pixel_ce[hard].mean())
    confident = 20 * F.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2).float()  # every pixel easy
    confident[0, :, 4, 4] = 0  # one pixel less so
    easy_ce = F.cross_entropy(confident, target, ignore_index=255, reduction="none")[valid]
    kept = math.ceil(valid.sum().item() / 16)
    assert torch.allclose(SegmentationLoss("ohem", 3)(confident, target), easy_ce.topk(kept).values.mean())


def test_ohem_is_a_loss_for_every_model_but_not_beside_ce():
    from edgeseg.train.config import ConfigError, TrainConfig

    TrainConfig(model="unet_vgg16", data="d", loss="ohem+dice").check()
    with pytest.raises(ConfigError, match="take ce or ohem, not both"):
        TrainConfig(model="pidnet_s", data="d", loss="ce+ohem").check()
