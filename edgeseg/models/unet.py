"""The improved U-Net: a pretrained-style encoder (VGG16 or ResNet50) and a bilinear decoder.

Each decoder stage upsamples ×2, concatenates the encoder's skip map of the same stride, and
applies two 3×3 conv-BN-ReLU. `unet_classic.py` reuses the decoder with its own encoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from edgeseg.models.backbones import VGG16, ResNet50, load_backbone_weights
from edgeseg.models.base import Backbone, SegmentationModel
from edgeseg.models.layers import conv_bn_relu, upsample
from edgeseg.models.registry import register_model


class DecoderStage(nn.Module):
    """Upsample ×2 (to `up_ch` channels), concatenate the skip map if any, two 3×3 conv-BN-ReLU."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, mode: str, up_ch: int | None = None) -> None:
        super().__init__()
        up_ch = up_ch or in_ch
        self.up = upsample(in_ch, up_ch, mode)
        self.conv = nn.Sequential(conv_bn_relu(skip_ch + up_ch, out_ch), conv_bn_relu(out_ch, out_ch))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        return self.conv(x if skip is None else torch.cat([skip, x], dim=1))


class UNet(SegmentationModel):
    """A U-Net over a Backbone whose features halve in size from one map to the next.

    Each subclass is one registered model and says which: its builder's name, its encoder class,
    decoder_channels (output channels of each stage, deepest first, one per skip map) and
    halve_on_upsample (the 2015 U-Net's up-convolution halves the channels; the improved U-Net's
    bilinear upsampling keeps them, and its `transposed` twin keeps them too).
    If the shallowest skip is at stride 2 (ResNet), a last stage without skip restores stride 1.
    """

    registered_name: ClassVar[str]
    encoder: ClassVar[type[Backbone]]
    decoder_channels: ClassVar[tuple[int, ...]] = (512, 256, 128, 64)
    halve_on_upsample: ClassVar[bool] = False

    def __init__(self, *, num_classes: int, upsample_mode: str) -> None:
        backbone = self.encoder()
        super().__init__(
            backbone,
            num_classes=num_classes,
            upsample=upsample_mode,
            pad_multiple=backbone.stride,
            config={"model": self.registered_name},
        )
        decoder_channels, halve_on_upsample = self.decoder_channels, self.halve_on_upsample
        channels = [c for c, _ in backbone.feature_info.values()]
        strides = [s for _, s in backbone.feature_info.values()]
        if len(decoder_channels) != len(channels) - 1:
            raise ValueError(f"need {len(channels) - 1} decoder channel counts, got {len(decoder_channels)}")
        stages = []
        in_ch = channels[-1]
        for skip_ch, out_ch in zip(reversed(channels[:-1]), decoder_channels):
            stages.append(
                DecoderStage(in_ch, skip_ch, out_ch, upsample_mode, up_ch=in_ch // 2 if halve_on_upsample else None)
            )
            in_ch = out_ch
        if strides[0] == 2:
            stages.append(DecoderStage(in_ch, 0, in_ch, upsample_mode))
        self.decoder = nn.ModuleList(stages)
        self.head = nn.Conv2d(in_ch, num_classes, 1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        features = list(self.backbone(x).values())
        x = features[-1]
        skips = features[-2::-1]
        for index, stage in enumerate(self.decoder):
            x = stage(x, skips[index] if index < len(skips) else None)
        return self.head(x)


class UNetVGG16(UNet):
    """The improved U-Net: VGG16 encoder (padding=1) and a decoder of 512/256/128/64 channels."""

    registered_name, encoder = "unet_vgg16", VGG16


class UNetResNet50(UNet):
    """U-Net with a ResNet50 encoder; a last skip-less stage restores the stem's stride 2."""

    registered_name, encoder = "unet_resnet50", ResNet50


def _with_weights(model: UNet, pretrained_backbone: str | Path | None) -> UNet:
    if pretrained_backbone is not None:
        load_backbone_weights(model.backbone, pretrained_backbone)
    return model


@register_model
def unet_vgg16(
    *, num_classes: int = 21, upsample: str = "bilinear", pretrained_backbone: str | Path | None = None
) -> UNet:
    """The improved U-Net: VGG16 encoder (padding=1) and a bilinear decoder of 512/256/128/64 channels."""
    return _with_weights(UNetVGG16(num_classes=num_classes, upsample_mode=upsample), pretrained_backbone)


@register_model
def unet_resnet50(
    *, num_classes: int = 21, upsample: str = "bilinear", pretrained_backbone: str | Path | None = None
) -> UNet:
    """U-Net with a ResNet50 encoder; a last skip-less stage restores the stem's stride 2."""
    return _with_weights(UNetResNet50(num_classes=num_classes, upsample_mode=upsample), pretrained_backbone)
