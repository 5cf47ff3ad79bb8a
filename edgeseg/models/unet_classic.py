"""The 2015 U-Net (Ronneberger et al.) with padding=1, so the output size equals the input size."""

from __future__ import annotations

import torch
from torch import nn

from edgeseg.models.base import Backbone
from edgeseg.models.layers import conv_bn_relu
from edgeseg.models.registry import register_model
from edgeseg.models.unet import UNet

WIDTHS = (64, 128, 256, 512, 1024)


class ClassicEncoder(Backbone):
    """Five blocks of two 3×3 conv-BN-ReLU, a 2×2 max-pool between blocks.

    BatchNorm (absent in the paper) is added so the network trains from scratch at small batch sizes.
    Features: c1 64 channels stride 1, c2 128 s2, c3 256 s4, c4 512 s8, c5 1024 s16.
    It has no torchvision counterpart, so it loads no ImageNet weights.
    """

    torchvision_name = "unet_classic (no torchvision counterpart)"

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        in_ch = 3
        blocks = []
        for width in WIDTHS:
            blocks.append(nn.Sequential(conv_bn_relu(in_ch, width), conv_bn_relu(width, width)))
            in_ch = width
        self.blocks = nn.ModuleList(blocks)
        self.feature_info = {f"c{i + 1}": (w, 2**i) for i, w in enumerate(WIDTHS)}

    def cam_layers(self) -> dict[str, str]:
        """The 10 conv-BN-ReLU units, after their ReLU."""
        return {f"blocks.{b}.{c}": f"block{b + 1} conv{c + 1}" for b in range(len(self.blocks)) for c in range(2)}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for index, block in enumerate(self.blocks):
            x = block(x if index == 0 else self.pool(x))
            out[f"c{index + 1}"] = x
        return out


class ClassicUNet(UNet):
    """The 2015 U-Net: the classic encoder and up-convolutions that halve the channels."""

    registered_name, encoder = "unet_classic", ClassicEncoder
    decoder_channels = WIDTHS[-2::-1]
    halve_on_upsample = True


@register_model
def unet_classic(*, num_classes: int = 21, upsample: str = "transposed") -> UNet:
    """The 2015 U-Net: up-convolutions ConvTranspose2d(C, C/2, 2, 2).

    With upsample="bilinear" each up-convolution becomes a bilinear ×2 resize and a 1×1 conv to C/2.
    """
    return ClassicUNet(num_classes=num_classes, upsample_mode=upsample)
