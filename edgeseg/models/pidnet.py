"""PIDNet (Xu et al., "PIDNet: A Real-time Semantic Segmentation Network Inspired by PID Controllers", CVPR 2023).

Three branches, named after a PID controller's terms: P keeps detail at stride 8, I gathers context down to
stride 64 (edgeseg/models/backbones/pidnet.py holds both), D finds boundaries at stride 8 from the I branch's
differences. A pyramid pooling module (PAPPM, or PIDNet-L's DAPPM) ends the I branch; the boundary-attention-
guided fusion (Light-Bag, or PIDNet-L's Bag) trusts P where D sees a boundary and I elsewhere; one head then
classifies at stride 8 and the logits are upsampled ×8.

Two training-only heads, as in the paper: one classifies the P branch after its first fusion (the auxiliary
loss), one predicts boundaries from the D branch (the boundary loss and the boundary-aware CE). In training mode
the model returns {"out", "aux", "boundary"} (edgeseg/train/losses.py weighs them); in eval mode, and so in
every exported graph, only the final logits exist.

The pyramid pools with the paper's windows (5, 9 and 17 cells of the stride-64 map, at strides 2, 4 and 8, and
a global average), so the pooled grids follow the input's size (a 1024×2048 input gives 8×16, 4×8, 2×4 and
1×1; 512² gives 4×4, 2×2, 1×1 and 1×1) and each window covers the same image area at every size. Unlike the
authors' code, a window at the border averages only the pixels inside the map: with zero padding counted, a
border cell of a small map (512², or the quickstart's 128²) would be several times darker than at the size the
network was trained at.

State-dict names are the authors' (github.com/XuJiacong/PIDNet, MIT), the pretrained part under `backbone.`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.models.backbones import load_backbone_weights
from edgeseg.models.backbones.pidnet import (
    BasicBlock,
    Bottleneck,
    PIDNetEncoder,
    PIDNetSize,
    conv_bn,
    residual_stage,
    upsample_to,
)
from edgeseg.models.base import SegmentationModel
from edgeseg.models.layers import upsample
from edgeseg.models.registry import register_model

OUTPUT_STRIDE = 8  # the P, D and fused maps, and so the logits before the last upsample
POOL_STRIDES = (2, 4, 8)  # the pyramid's windows are 2s+1 cells wide, at stride s


def bn_relu_conv(in_ch: int, out_ch: int, kernel: int = 1, groups: int = 1) -> list[nn.Module]:
    """Pre-activation BN → ReLU → conv (no bias), as the pyramid and the Bag use it."""
    return [
        nn.BatchNorm2d(in_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_ch, out_ch, kernel, padding=(kernel - 1) // 2, groups=groups, bias=False),
    ]


def pool_level(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    """One pyramid level: the average over windows of 2s+1 cells at stride s (s=0: over the whole map), then
    BN → ReLU → 1×1 conv."""
    pool = (
        nn.AdaptiveAvgPool2d(1)
        if stride == 0
        else nn.AvgPool2d(2 * stride + 1, stride, padding=stride, count_include_pad=False)
    )
    return nn.Sequential(pool, *bn_relu_conv(in_ch, out_ch))


class PyramidPooling(nn.Module):
    """PAPPM (parallel: the four pooled levels, each added to the unpooled one, share one grouped 3×3 conv) or
    DAPPM (sequential: each level is added to the previous level's output and has its own 3×3 conv, PIDNet-L).

    Module names follow the authors': scale0 (unpooled), scale1-4 (pooled at strides 2, 4, 8 and globally),
    scale_process (PAPPM) or process1-4 (DAPPM), compression (of the concatenated levels) and shortcut.
    """

    def __init__(self, in_ch: int, branch_ch: int, out_ch: int, sequential: bool) -> None:
        super().__init__()
        self.sequential = sequential
        self.scale0 = nn.Sequential(*bn_relu_conv(in_ch, branch_ch))
        for level, stride in enumerate((*POOL_STRIDES, 0), start=1):
            setattr(self, f"scale{level}", pool_level(in_ch, branch_ch, stride))
            if sequential:
                setattr(self, f"process{level}", nn.Sequential(*bn_relu_conv(branch_ch, branch_ch, 3)))
        if not sequential:
            self.scale_process = nn.Sequential(*bn_relu_conv(4 * branch_ch, 4 * branch_ch, 3, groups=4))
        self.compression = nn.Sequential(*bn_relu_conv(5 * branch_ch, out_ch))
        self.shortcut = nn.Sequential(*bn_relu_conv(in_ch, out_ch))

    def _level(self, x: torch.Tensor, level: int) -> torch.Tensor:
        """Pyramid level 1-4 of `x`, back at x's size (the global level broadcast: no Resize node)."""
        pooled = getattr(self, f"scale{level}")(x)
        if level == 4:
            return pooled.expand(-1, -1, x.shape[-2], x.shape[-1])
        return upsample_to(pooled, POOL_STRIDES[level - 1], x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self.scale0(x)
        levels = [base]
        if self.sequential:
            for level in range(1, 5):
                levels.append(getattr(self, f"process{level}")(self._level(x, level) + levels[-1]))
        else:
            pooled = [self._level(x, level) + base for level in range(1, 5)]
            levels.append(self.scale_process(torch.cat(pooled, dim=1)))
        return self.compression(torch.cat(levels, dim=1)) + self.shortcut(x)


class BoundaryFusion(nn.Module):
    """Boundary-attention-guided fusion of P (detail), I (context) and D (boundaries): σ(D) weighs P against I.

    Light-Bag (PIDNet-S/M): 1×1 conv-BN of (1-σ)·I + P plus 1×1 conv-BN of I + σ·P.
    Bag (PIDNet-L): BN → ReLU → 3×3 conv of σ·P + (1-σ)·I.
    """

    def __init__(self, channels: int, light: bool) -> None:
        super().__init__()
        self.light = light
        if light:
            self.conv_p = conv_bn(channels, channels)
            self.conv_i = conv_bn(channels, channels)
        else:
            self.conv = nn.Sequential(*bn_relu_conv(channels, channels, 3))

    def forward(self, p: torch.Tensor, i: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        sigma = torch.sigmoid(d)
        if self.light:
            return self.conv_p((1 - sigma) * i + p) + self.conv_i(i + sigma * p)
        return self.conv(sigma * p + (1 - sigma) * i)


class SegmentHead(nn.Module):
    """BN → ReLU → 3×3 conv → BN → ReLU → 1×1 conv (with bias): the final head and both training-only heads.

    Each ReLU is its own module, so Grad-CAM's hook on the last one fires once per forward pass."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_ch, hidden, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(hidden, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu2(self.bn2(self.conv1(self.relu1(self.bn1(x))))))


class PIDNet(SegmentationModel):
    """PIDNet of one size; each subclass is one registered model (its builder's name and its PIDNetSize)."""

    registered_name: ClassVar[str]
    size: ClassVar[PIDNetSize]
    training_only = ("seghead_p", "seghead_d")

    def __init__(self, *, num_classes: int, upsample_mode: str) -> None:
        size = self.size
        super().__init__(
            PIDNetEncoder(size, self.registered_name),
            num_classes=num_classes,
            upsample=upsample_mode,
            pad_multiple=OUTPUT_STRIDE,
            config={"model": self.registered_name},
        )
        c = size.planes
        # The D branch: two stride-8 stages, each adding the I branch's (upsampled) differences.
        d_mid = 2 * c if size.full_fusion else c
        self.layer3_d = BasicBlock(2 * c, d_mid, relu_out=False)
        if size.full_fusion:
            self.layer4_d = BasicBlock(2 * c, 2 * c, relu_out=False)
        else:
            self.layer4_d = residual_stage(Bottleneck, c, c, 1)
        self.diff3 = conv_bn(4 * c, d_mid, kernel=3)
        self.diff4 = conv_bn(8 * c, 2 * c, kernel=3)
        self.layer5_d = residual_stage(Bottleneck, 2 * c, 2 * c, 1)
        self.spp = PyramidPooling(16 * c, size.ppm_planes, 4 * c, sequential=size.full_fusion)
        self.dfm = BoundaryFusion(4 * c, light=not size.full_fusion)
        # Training only (registered before the final head, whose last ReLU is then the decoder's last).
        self.seghead_p = SegmentHead(2 * c, size.head_planes, num_classes)
        self.seghead_d = SegmentHead(2 * c, c, 1)
        self.final_layer = SegmentHead(4 * c, size.head_planes, num_classes)
        self.output_up = upsample(num_classes, num_classes, upsample_mode, factor=OUTPUT_STRIDE)
        _init_weights(self)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        f = self.backbone(x)
        d = self.layer3_d(f["stem"]) + upsample_to(self.diff3(f["i16"]), 2, f["stem"].shape)
        d_mid = F.relu(self.layer4_d(F.relu(d)) + upsample_to(self.diff4(f["i32"]), 4, f["stem"].shape))
        d = self.layer5_d(d_mid)
        context = upsample_to(self.spp(f["i64"]), 8, f["p"].shape)
        logits = self.output_up(self.final_layer(self.dfm(f["p"], context, d)))
        if not self.training:
            return logits
        return {
            "out": logits,
            # Both heads read their branch after its ReLU, as in the authors' training (an in-place ReLU there).
            "aux": _up8(self.seghead_p(f["p_mid"])),
            "boundary": _up8(self.seghead_d(d_mid)),
        }


def _up8(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=float(OUTPUT_STRIDE), mode="bilinear", align_corners=False)


def _init_weights(model: nn.Module) -> None:
    """He initialisation (fan-out) for convs, BN at identity, as the paper's network starts."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class PIDNetS(PIDNet):
    registered_name, size = (
        "pidnet_s",
        PIDNetSize(planes=32, basic_blocks=2, deep_blocks=3, ppm_planes=96, head_planes=128),
    )


class PIDNetM(PIDNet):
    registered_name, size = (
        "pidnet_m",
        PIDNetSize(planes=64, basic_blocks=2, deep_blocks=3, ppm_planes=96, head_planes=128),
    )


class PIDNetL(PIDNet):
    registered_name, size = (
        "pidnet_l",
        PIDNetSize(planes=64, basic_blocks=3, deep_blocks=4, ppm_planes=112, head_planes=256, full_fusion=True),
    )


def _pidnet(model: PIDNet, pretrained_backbone: str | Path | None) -> PIDNet:
    if pretrained_backbone is not None:
        load_backbone_weights(model.backbone, pretrained_backbone)
    return model


@register_model
def pidnet_s(
    *, num_classes: int = 21, upsample: str = "bilinear", pretrained_backbone: str | Path | None = None
) -> PIDNet:
    """PIDNet-S: C=32, m=2, n=3, PAPPM and Light-Bag (7.6 M parameters, 94 GFLOPs at 1024×2048 for 19 classes).

    pretrained_backbone: the authors' ImageNet file (PIDNet_S_ImageNet.pth.tar) or another file with their
    names; see docs/training.md."""
    return _pidnet(PIDNetS(num_classes=num_classes, upsample_mode=upsample), pretrained_backbone)


@register_model
def pidnet_m(
    *, num_classes: int = 21, upsample: str = "bilinear", pretrained_backbone: str | Path | None = None
) -> PIDNet:
    """PIDNet-M: PIDNet-S at twice the width (C=64)."""
    return _pidnet(PIDNetM(num_classes=num_classes, upsample_mode=upsample), pretrained_backbone)


@register_model
def pidnet_l(
    *, num_classes: int = 21, upsample: str = "bilinear", pretrained_backbone: str | Path | None = None
) -> PIDNet:
    """PIDNet-L: C=64, m=3, n=4, with DAPPM, Bag and a wider D branch and heads."""
    return _pidnet(PIDNetL(num_classes=num_classes, upsample_mode=upsample), pretrained_backbone)
