"""DeepLabV3+ with a MobileNetV2 backbone (Chen et al. 2018).

Two heads: the paper's atrous *separable* convolutions in ASPP and the decoder (the default, as in
segmentation_models_pytorch), or dense 3×3 convs there (what edgeseg built before; a checkpoint without
a `separable` entry in its config is one of those). At 512² the dense head's stride-4 decoder alone costs
about 42 GFLOPs; the separable one about 5.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgeseg.models.backbones import MobileNetV2, load_backbone_weights
from edgeseg.models.base import SegmentationModel
from edgeseg.models.layers import conv_bn_relu, separable_conv_bn_relu, upsample
from edgeseg.models.registry import register_model

ASPP_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


class ImagePooling(nn.Module):
    """ASPP's image-level branch: global average, 1×1 conv, broadcast back over the map.

    No BatchNorm here: on a 1×1 map it has one value per channel at batch size 1 and training fails
    ("Expected more than 1 value per channel"), a classic trap of batch-1 fine-tuning.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Bilinear upsampling of a 1×1 map is a broadcast; expand says so without a Resize node.
        return self.conv(self.pool(x)).expand(-1, -1, x.shape[-2], x.shape[-1])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1×1 + three atrous 3×3 (separable or dense) + image pooling, then a
    1×1 projection."""

    def __init__(self, in_ch: int, out_ch: int, rates: tuple[int, int, int], separable: bool = False) -> None:
        super().__init__()
        atrous = separable_conv_bn_relu if separable else conv_bn_relu
        self.branches = nn.ModuleList(
            [conv_bn_relu(in_ch, out_ch, kernel=1)]
            + [atrous(in_ch, out_ch, dilation=rate) for rate in rates]
            + [ImagePooling(in_ch, out_ch)]
        )
        self.project = nn.Sequential(conv_bn_relu(5 * out_ch, out_ch, kernel=1), nn.Dropout(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


class DeepLabV3Plus(SegmentationModel):
    """ASPP on the deep features, fused with 48-channel stride-4 features, upsampled ×4 to the input."""

    def __init__(self, *, num_classes: int, upsample_mode: str, output_stride: int, separable: bool) -> None:
        if output_stride not in ASPP_RATES:
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
        separable = bool(separable)
        super().__init__(
            MobileNetV2(output_stride),
            num_classes=num_classes,
            upsample=upsample_mode,
            pad_multiple=output_stride,
            config={"model": "deeplabv3plus_mobilenetv2", "output_stride": output_stride, "separable": separable},
        )
        low_ch, _ = self.backbone.feature_info["low_level"]
        high_ch, _ = self.backbone.feature_info["out"]
        self.separable = separable
        self.aspp = ASPP(high_ch, 256, ASPP_RATES[output_stride], separable)
        self.aspp_up = upsample(256, 256, upsample_mode, factor=output_stride // 4)
        self.low_level_project = conv_bn_relu(low_ch, 48, kernel=1)
        fuse = separable_conv_bn_relu if separable else conv_bn_relu
        self.fuse = nn.Sequential(fuse(256 + 48, 256), fuse(256, 256), nn.Dropout(0.1))
        self.classifier = nn.Conv2d(256, num_classes, 1)
        self.output_up = upsample(num_classes, num_classes, upsample_mode, factor=4)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        deep = self.aspp_up(self.aspp(features["out"]))
        fused = self.fuse(torch.cat([deep, self.low_level_project(features["low_level"])], dim=1))
        return self.output_up(self.classifier(fused))


@register_model
def deeplabv3plus_mobilenetv2(
    *,
    num_classes: int = 21,
    upsample: str = "bilinear",
    output_stride: int = 16,
    separable: bool = True,
    pretrained_backbone: str | Path | None = None,
) -> DeepLabV3Plus:
    """DeepLabV3+ / MobileNetV2: ASPP rates 6/12/18 at output stride 16, 12/24/36 at 8.

    separable: atrous separable 3×3 convs in ASPP and the decoder (the paper's design, ~11 GFLOPs at
    512²); False: dense 3×3 convs (~53 GFLOPs).
    """
    model = DeepLabV3Plus(
        num_classes=num_classes, upsample_mode=upsample, output_stride=output_stride, separable=separable
    )
    if pretrained_backbone is not None:
        load_backbone_weights(model.backbone, pretrained_backbone)
    return model


# Checkpoints written before the separable head existed record no `separable`: they hold dense heads.
deeplabv3plus_mobilenetv2.legacy_defaults = {"separable": False}
