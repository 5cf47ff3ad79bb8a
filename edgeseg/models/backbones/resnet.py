"""ResNet50 with torchvision's parameter names, as a U-Net encoder."""

from __future__ import annotations

import torch
from torch import nn

from edgeseg.models.base import Backbone


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        # Stride on the 3×3 conv (ResNet v1.5), as torchvision does.
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(Backbone):
    """ResNet50 (v1.5) without the average pool and `fc`.

    Features:
      c1   64 channels, stride 2 (stem, before its max-pool)   c2  256, stride 4 (layer1)
      c3  512 channels, stride 8 (layer2)                       c4 1024, stride 16 (layer3)
      c5 2048 channels, stride 32 (layer4)
    """

    torchvision_name = "resnet50"
    head_prefixes = ("fc.",)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = 64
        for index, (width, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))):
            layer = []
            for i in range(blocks):
                layer.append(Bottleneck(in_ch, width, stride if i == 0 else 1))
                in_ch = width * Bottleneck.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))
        self.feature_info = {
            "c1": (64, 2),
            "c2": (256, 4),
            "c3": (512, 8),
            "c4": (1024, 16),
            "c5": (2048, 32),
        }

    def cam_layers(self) -> dict[str, str]:
        """The stem (after its ReLU) and the output of each of the 16 bottlenecks."""
        labels = {"relu": "stem"}
        for index in range(1, 5):
            for block in range(len(getattr(self, f"layer{index}"))):
                labels[f"layer{index}.{block}"] = f"layer{index}.{block}"
        return labels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c1 = self.relu(self.bn1(self.conv1(x)))
        c2 = self.layer1(self.maxpool(c1))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        return {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "c5": self.layer4(c4)}
