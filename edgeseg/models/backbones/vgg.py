"""VGG16 with torchvision's parameter names, as the improved U-Net's encoder."""

from __future__ import annotations

import torch
from torch import nn

from edgeseg.models.base import Backbone

# Conv widths of VGG16 ("configuration D"); "M" is a 2×2 max-pool.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16(Backbone):
    """VGG16's 13 3×3 convs (padding=1, so sizes halve exactly at each pool), no BatchNorm.

    Features (taken after each block's last ReLU, before its pool):
      c1  64 channels, stride 1     c2 128, stride 2     c3 256, stride 4
      c4 512 channels, stride 8     c5 512, stride 16
    The final max-pool (features.30) is kept so indices match torchvision but is never run;
    torchvision's `classifier` (the fully connected head) is dropped when its state dict is loaded.
    """

    torchvision_name = "vgg16"
    head_prefixes = ("classifier.",)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=True)]
                in_ch = v
        self.features = nn.Sequential(*layers)
        # Index of the last ReLU of each block: the feature maps the U-Net decoder takes.
        self._taps = {3: "c1", 8: "c2", 15: "c3", 22: "c4", 29: "c5"}
        self.feature_info = {"c1": (64, 1), "c2": (128, 2), "c3": (256, 4), "c4": (512, 8), "c5": (512, 16)}

    def cam_layers(self) -> dict[str, str]:
        """The 13 convs, taken after their ReLU (Grad-CAM wants the non-negative feature maps):
        features.1 → conv1_1 … features.29 → conv5_3, the sweep of the U-Net report."""
        labels, block, index = {}, 1, 0
        for position, layer in enumerate(self.features):
            if isinstance(layer, nn.MaxPool2d):
                block, index = block + 1, 0
            elif isinstance(layer, nn.ReLU):
                index += 1
                labels[f"features.{position}"] = f"conv{block}_{index}"
        return labels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for index, layer in enumerate(self.features[:30]):
            x = layer(x)
            if index in self._taps:
                out[self._taps[index]] = x
        return out
