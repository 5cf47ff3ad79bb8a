"""PIDNet's P and I branches (Xu et al., CVPR 2023): the part its ImageNet pretraining covers.

The I (integral) branch is a ResNet-like encoder down to stride 64 that gathers context. The P (proportional)
branch leaves it at stride 8 and stays there, keeping detail; twice it takes in the I branch's context
through a pixel-attention-guided fusion (Pag). The D (derivative, boundary) branch, the pyramid pooling, the
boundary-attention-guided fusion and the heads are not pretrained: they live in edgeseg/models/pidnet.py.

Parameter names are those of the authors' released files (github.com/XuJiacong/PIDNet, MIT): `conv1` (the
stem), `layer1`…`layer5` (I), `layer3_`…`layer5_` (P), `compression3/4` and `pag3/4`, so their ImageNet
`.pth.tar` loads into this module by name, as torchvision's files load into the other backbones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.models.backbones.imagenet import authors_file
from edgeseg.models.base import Backbone


@dataclass(frozen=True)
class PIDNetSize:
    """Width and depth of one PIDNet (the paper's (m, n, C) and its head widths).

    planes: C, the stem's channels; the branches use multiples of it.
    basic_blocks: m, residual blocks per stage in the stem and in the P and D branches.
    deep_blocks: n, residual blocks in the I branch's stages 3 and 4.
    ppm_planes: channels of each pyramid-pooling branch.
    head_planes: the segmentation heads' hidden channels.
    full_fusion: PIDNet-L's choices (sequential DAPPM, Bag with a 3×3 conv, wider D branch) instead of
        PIDNet-S/M's lighter ones (parallel PAPPM, Light-Bag with 1×1 convs).
    """

    planes: int
    basic_blocks: int
    deep_blocks: int
    ppm_planes: int
    head_planes: int
    full_fusion: bool = False


def conv_bn(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1) -> nn.Sequential:
    """Conv (no bias) → BN, 'same' padding; keys `0.weight`, `1.*` as in the authors' files."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, padding=(kernel - 1) // 2, bias=False), nn.BatchNorm2d(out_ch)
    )


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN with a shortcut; `relu_out=False` leaves the sum un-activated (the stage's last block:
    the next stage or a fusion adds to it first)."""

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, relu_out: bool = True) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = conv_bn(in_ch, out_ch, stride=stride) if stride != 1 or in_ch != out_ch else None
        self.relu_out = relu_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + shortcut
        return F.relu(out) if self.relu_out else out


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 conv-BN with a shortcut, widening ×2 (not ResNet's ×4); un-activated sum by default."""

    expansion = 2

    def __init__(self, in_ch: int, planes: int, stride: int = 1, relu_out: bool = False) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.downsample = conv_bn(in_ch, out_ch, stride=stride) if stride != 1 or in_ch != out_ch else None
        self.relu_out = relu_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out)) + shortcut
        return F.relu(out) if self.relu_out else out


def residual_stage(
    block: type[BasicBlock | Bottleneck], in_ch: int, planes: int, blocks: int, stride: int = 1
) -> nn.Sequential:
    """`blocks` residual blocks, the first one strided. Basic blocks end in a ReLU but the stage's last one;
    bottleneck stages have no ReLU at a block's end: where the pretrained weights expect them, as in the
    authors' network."""
    layers = []
    for index in range(blocks):
        last = index == blocks - 1
        relu_out = not last and block is BasicBlock
        layers.append(block(in_ch, planes, stride if index == 0 else 1, relu_out=relu_out))
        in_ch = planes * block.expansion
    return nn.Sequential(*layers)


def upsample_to(x: torch.Tensor, factor: int, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Bilinear ×`factor` (align_corners=False, docs/architecture.md rule 4), cropped to `size`.

    A deep map's sides are the ceiling of the shallow map's over the stride, so ×factor covers the shallow map
    and the crop keeps the geometry exact at any input (a resize to `size` would stretch the last cells).
    """
    up = F.interpolate(x, scale_factor=float(factor), mode="bilinear", align_corners=False)
    return up[..., : size[-2], : size[-1]]


class PagFM(nn.Module):
    """Pixel-attention-guided fusion: at each pixel, how much the P branch takes from the I branch is
    sigmoid(<f_x(p), f_y(i)>), the similarity of their embeddings (the paper's Pag, eq. 1)."""

    def __init__(self, channels: int, embed: int) -> None:
        super().__init__()
        self.f_x = conv_bn(channels, embed)
        self.f_y = conv_bn(channels, embed)

    def forward(self, p: torch.Tensor, i: torch.Tensor, factor: int) -> torch.Tensor:
        i_key = upsample_to(self.f_y(i), factor, p.shape)
        sigma = torch.sigmoid((self.f_x(p) * i_key).sum(dim=1, keepdim=True))
        return (1 - sigma) * p + sigma * upsample_to(i, factor, p.shape)


class PIDNetEncoder(Backbone):
    """The stem, the I branch and the P branch of PIDNet.

    Features (C = size.planes):
      stem         2C channels, stride 8: the shared stem's output, where the P and D branches start
      i16          4C, stride 16    i32  8C, stride 32    i64  16C, stride 64: the I branch, after each stage
      p_mid        2C, stride 8: the P branch after its first fusion (the auxiliary head's input)
      p            4C, stride 8: the P branch's output
    """

    def __init__(self, size: PIDNetSize, name: str) -> None:
        super().__init__()
        c, m, n = size.planes, size.basic_blocks, size.deep_blocks
        self.torchvision_name = name  # no torchvision counterpart: the model's name, for messages and weights
        # The stem's convs carry a bias before their BN, as in the authors' files.
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, c, 3, 2, 1),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, 2, 1),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
        self.layer1 = residual_stage(BasicBlock, c, c, m)
        self.layer2 = residual_stage(BasicBlock, c, 2 * c, m, stride=2)
        self.layer3 = residual_stage(BasicBlock, 2 * c, 4 * c, n, stride=2)
        self.layer4 = residual_stage(BasicBlock, 4 * c, 8 * c, n, stride=2)
        self.layer5 = residual_stage(Bottleneck, 8 * c, 8 * c, 2, stride=2)
        self.compression3 = conv_bn(4 * c, 2 * c)
        self.compression4 = conv_bn(8 * c, 2 * c)
        self.pag3 = PagFM(2 * c, c)
        self.pag4 = PagFM(2 * c, c)
        self.layer3_ = residual_stage(BasicBlock, 2 * c, 2 * c, m)
        self.layer4_ = residual_stage(BasicBlock, 2 * c, 2 * c, m)
        self.layer5_ = residual_stage(Bottleneck, 2 * c, 2 * c, 1)
        # The activations between stages, as modules: Grad-CAM explains their (non-negative) outputs.
        self.relu1, self.relu2, self.relu3, self.relu4 = (nn.ReLU() for _ in range(4))
        self.relu_p3, self.relu_p4 = nn.ReLU(), nn.ReLU()
        self.feature_info = {
            "stem": (2 * c, 8),
            "i16": (4 * c, 16),
            "i32": (8 * c, 32),
            "i64": (16 * c, 64),
            "p_mid": (2 * c, 8),  # after its ReLU
            "p": (4 * c, 8),
        }

    @property
    def weights_hint(self) -> str:
        return f"the authors' ImageNet file for {self.torchvision_name}, {authors_file(self.torchvision_name)}"

    def pretrained_entries(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The entries for this module in a file with the authors' names: their ImageNet file, or one of their
        segmentation checkpoints (saved from a wrapper, so under "model." and maybe "module."). What belongs to
        no module of this one (a classifier, the D branch, the heads) is left out; the rest must fit exactly."""
        for prefix in ("module.", "model."):
            if state and all(key.startswith(prefix) for key in state):
                state = {key[len(prefix) :]: value for key, value in state.items()}
        own = {name for name, _ in self.named_children()}
        return {key: value for key, value in state.items() if key.split(".", 1)[0] in own}

    def cam_layers(self) -> dict[str, str]:
        """Each stage's output after its ReLU (a stage that ends un-activated: its sum), shallow to deep, the I and
        P branches side by side from stage 3 on (P: after its fusion with I), the I branch's last stage last."""
        return {
            "conv1": "stem",
            "relu1": "stem layer1",
            "relu2": "stem layer2",
            "relu3": "I layer3",
            "relu_p3": "P layer3 + Pag",
            "relu4": "I layer4",
            "relu_p4": "P layer4 + Pag",
            "layer5_": "P layer5",
            "layer5": "I layer5",  # the deepest: stride 64
        }

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        stem = self.relu2(self.layer2(self.relu1(self.layer1(self.conv1(x)))))
        i16 = self.relu3(self.layer3(stem))
        p_mid = self.relu_p3(self.pag3(self.layer3_(stem), self.compression3(i16), factor=2))
        i32 = self.relu4(self.layer4(i16))
        p = self.relu_p4(self.pag4(self.layer4_(p_mid), self.compression4(i32), factor=4))
        return {"stem": stem, "i16": i16, "i32": i32, "i64": self.layer5(i32), "p_mid": p_mid, "p": self.layer5_(p)}
