"""Parameter counts against the reference designs (the DeepLabV3+ and U-Net reports), and FLOPs against a hand count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeseg.models import list_models
from edgeseg.models.complexity import count_flops, describe_model


def test_deeplab_params_match_reference_design():
    row = describe_model("deeplabv3plus_mobilenetv2", upsample="bilinear", height=512, width=512, separable=False)
    assert row["params_m"] == pytest.approx(5.82, rel=0.10)
    assert row["backbone_params_m"] == pytest.approx(1.81, rel=0.02)


def test_unet_vgg16_params_match_reference_design():
    row = describe_model("unet_vgg16", upsample="bilinear", height=512, width=512)
    assert row["params_m"] == pytest.approx(24.89, rel=0.02)
    assert row["backbone_params_m"] == pytest.approx(14.71, rel=0.01)
    transposed = describe_model("unet_vgg16", upsample="transposed", height=512, width=512)
    # Four ConvTranspose2d(C, C, 2, 2) at C = 512, 512, 256, 128.
    assert transposed["params_m"] - row["params_m"] == pytest.approx(2.43, abs=0.01)


@pytest.mark.parametrize("name", list_models())
def test_transposed_is_larger_than_bilinear(name):
    bilinear = describe_model(name, upsample="bilinear", height=64, width=64)
    transposed = describe_model(name, upsample="transposed", height=64, width=64)
    assert transposed["params_m"] > bilinear["params_m"]
    assert transposed["gflops"] >= bilinear["gflops"] > 0


def test_flop_count_equals_hand_count():
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))
    # 2 FLOPs per multiply-add: 2 · (3·3·3) · 8 output channels · 16·16 pixels.
    assert count_flops(conv, 16, 16) == 2 * 27 * 8 * 256
    assert count_flops(conv.to(torch.device("meta")), 16, 16) == 2 * 27 * 8 * 256
