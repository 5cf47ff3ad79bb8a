"""MobileNetV2 with torchvision's parameter names, dilated for DeepLabV3+."""

from __future__ import annotations

import torch
from torch import nn

from edgeseg.models.base import Backbone

# (expansion t, output channels c, repeats n, first stride s), from the MobileNetV2 paper.
_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _conv_bn_relu6(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    # Same layout as torchvision's Conv2dNormActivation, so the keys are `<i>.0.weight`, `<i>.1.*`.
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_ch * expand_ratio
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(in_ch, hidden, kernel=1))
        layers += [
            _conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def _dilate(blocks: nn.Module, dilation: int) -> None:
    """Turn strided 3×3 convs into stride 1 and dilate the rest, keeping the receptive field.

    The first (formerly strided) conv gets half the dilation, as in DeepLab's reference code.
    """
    for conv in blocks.modules():
        if not isinstance(conv, nn.Conv2d) or conv.kernel_size != (3, 3):
            continue
        rate = dilation // 2 if conv.stride == (2, 2) else dilation
        conv.stride, conv.dilation, conv.padding = (1, 1), (rate, rate), (rate, rate)


class MobileNetV2(Backbone):
    """MobileNetV2 (width 1.0) without its 1280-channel head conv and classifier.

    Features:
      low_level  24 channels, stride 4   (features[0:4])
      out       320 channels, stride 16 or 8 (features[4:18], dilated past `output_stride`)

    Parameter names are torchvision's `mobilenet_v2` ones; its `features.18` (the 320→1280 conv)
    and `classifier` belong to the ImageNet head and are dropped when such a state dict is loaded.
    """

    torchvision_name = "mobilenet_v2"
    head_prefixes = ("features.18.", "classifier.")

    def __init__(self, output_stride: int = 16) -> None:
        super().__init__()
        if output_stride not in (8, 16):
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, stride=2)]
        in_ch = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
        self.features = nn.Sequential(*layers)
        if output_stride == 8:
            _dilate(self.features[7:14], 2)
            _dilate(self.features[14:], 4)
        else:
            _dilate(self.features[14:], 2)
        self.feature_info = {"low_level": (24, 4), "out": (320, output_stride)}

    def cam_layers(self) -> dict[str, str]:
        """The stem, then each inverted residual's depthwise conv after its ReLU6.

        A block's own output is a linear bottleneck (no activation, negative values), where Grad-CAM's
        premise of non-negative feature maps fails; the depthwise ReLU6 output is the block's last
        non-negative representation.
        """
        labels = {"features.0": "stem"}
        for i, block in enumerate(self.features[1:], start=1):
            depthwise = len(block.conv) - 3  # conv = [expand,] depthwise, project, bn
            labels[f"features.{i}.conv.{depthwise}"] = f"block {i}"
        return labels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        low_level = self.features[:4](x)
        return {"low_level": low_level, "out": self.features[4:](low_level)}
