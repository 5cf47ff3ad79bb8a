"""Small building blocks shared by the segmentation models."""

from __future__ import annotations

from torch import nn

from edgeseg.runtime.metadata import UPSAMPLE_MODES


def check_upsample(mode: str) -> str:
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {mode!r}")
    return mode


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, dilation: int = 1) -> nn.Sequential:
    """Conv (no bias: the BN that follows has one) → BN → ReLU, 'same' padding."""
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def separable_conv_bn_relu(in_ch: int, out_ch: int, dilation: int = 1) -> nn.Sequential:
    """Atrous separable 3×3 conv (Chen et al. 2018): depthwise 3×3 (dilated) → BN → ReLU, then
    pointwise 1×1 → BN → ReLU. About 9/out_ch + 1/9 the FLOPs of a dense 3×3 with the same channels."""
    return nn.Sequential(
        nn.Conv2d(in_ch, in_ch, 3, padding=dilation, dilation=dilation, groups=in_ch, bias=False),
        nn.BatchNorm2d(in_ch),
        nn.ReLU(inplace=True),
        *conv_bn_relu(in_ch, out_ch, kernel=1),
    )


def upsample(in_ch: int, out_ch: int, mode: str, factor: int = 2) -> nn.Module:
    """Upsample by `factor` (a power of two) with the decoder's chosen operator.

    bilinear:   parameter-free resize with align_corners=False (what ONNX Resize and TensorRT agree
                on, docs/architecture.md, rule 4), then a 1×1 conv only when the channel count changes.
    transposed: one ConvTranspose2d(k=2, s=2) per ×2, as in the 2015 U-Net.
    """
    check_upsample(mode)
    steps = factor.bit_length() - 1
    if factor < 2 or 1 << steps != factor:
        raise ValueError(f"upsample factor must be a power of two ≥ 2, got {factor}")
    if mode == "transposed":
        chans = [in_ch] + [out_ch] * steps
        layers = [nn.ConvTranspose2d(chans[i], chans[i + 1], 2, stride=2) for i in range(steps)]
        return layers[0] if steps == 1 else nn.Sequential(*layers)
    resize = nn.Upsample(scale_factor=factor, mode="bilinear", align_corners=False)
    if in_ch == out_ch:
        return resize
    return nn.Sequential(resize, nn.Conv2d(in_ch, out_ch, 1))
