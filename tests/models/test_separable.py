"""DeepLabV3+'s atrous separable head: shapes, an analytic parameter count, FLOPs, and old checkpoints."""

from __future__ import annotations

import pytest
import torch

from edgeseg.models import build_model
from edgeseg.models.complexity import count_params, describe_model
from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
from edgeseg.train.checkpoint import make_metadata, model_from_checkpoint, save_checkpoint

NAME = "deeplabv3plus_mobilenetv2"


def _conv_bn(cin: int, cout: int, k: int = 1) -> int:
    return cin * cout * k * k + 2 * cout  # bias-free conv, BN weight + bias


def _separable(cin: int, cout: int) -> int:
    return cin * 9 + 2 * cin + _conv_bn(cin, cout)  # depthwise 3×3 + BN, then pointwise 1×1 + BN


def _dense(cin: int, cout: int) -> int:
    return _conv_bn(cin, cout, 3)


def _head_params(num_classes: int, three_by_three) -> int:
    high, low, mid = 320, 24, 256
    aspp = _conv_bn(high, mid) + 3 * three_by_three(high, mid) + (high * mid + mid) + _conv_bn(5 * mid, mid)
    decoder = _conv_bn(low, 48) + three_by_three(mid + 48, mid) + three_by_three(mid, mid)
    return aspp + decoder + mid * num_classes + num_classes


@pytest.mark.parametrize(("separable", "block"), [(True, _separable), (False, _dense)], ids=["separable", "dense"])
def test_parameter_count_matches_analytic_count(separable, block):
    model = build_model(NAME, num_classes=21, separable=separable)
    head = count_params(model) - count_params(model.backbone)
    assert head == _head_params(21, block)


def test_default_is_separable_and_dense_is_kept():
    assert build_model(NAME).config["separable"] is True
    dense = build_model(NAME, separable=False)
    assert dense.config["separable"] is False and not dense.separable
    assert count_params(build_model(NAME)) < count_params(dense)


@pytest.mark.parametrize("separable", [True, False], ids=["separable", "dense"])
@pytest.mark.parametrize("output_stride", [8, 16])
@pytest.mark.parametrize("size", [(65, 97), (333, 501), (33, 17)], ids=["65x97", "333x501", "33x17"])
def test_output_size_at_odd_sizes(separable, output_stride, size):
    torch.manual_seed(0)
    model = build_model(NAME, num_classes=3, separable=separable, output_stride=output_stride).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, *size))
    assert logits.shape == (1, 3, *size)
    assert torch.isfinite(logits).all()


def test_separable_head_meets_the_flop_target():
    separable = describe_model(NAME, upsample="bilinear", height=512, width=512)
    dense = describe_model(NAME, upsample="bilinear", height=512, width=512, separable=False)
    assert separable["head"] == "separable" and dense["head"] == "dense"
    assert separable["gflops"] <= 15 < dense["gflops"]


def _checkpoint(path, model):
    meta = make_metadata(model, ("bg", "a", "b"), (64, 64), IMAGENET_MEAN, IMAGENET_STD, "letterbox")
    save_checkpoint(path, model, meta)


def test_checkpoint_without_the_key_loads_as_dense(tmp_path):
    old = build_model(NAME, num_classes=3, separable=False).eval()
    del old.config["separable"]  # what a checkpoint written before the separable head records
    _checkpoint(tmp_path / "old.pt", old)
    model, metadata, _ = model_from_checkpoint(tmp_path / "old.pt")
    assert "separable" not in metadata.model_config
    assert model.separable is False
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), old(x))


@pytest.mark.parametrize("separable", [True, False])
def test_checkpoint_records_the_head(tmp_path, separable):
    _checkpoint(tmp_path / "new.pt", build_model(NAME, num_classes=3, separable=separable))
    model, metadata, _ = model_from_checkpoint(tmp_path / "new.pt")
    assert metadata.model_config["separable"] is separable
    assert model.separable is separable
