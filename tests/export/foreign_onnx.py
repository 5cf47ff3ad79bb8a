"""ONNX files as other tools write them, made in the tests with plain torch.onnx: no edgeseg metadata, an input
called "input" and an output "output", mmsegmentation's 0–255 mean and std.

segmentation_models_pytorch does not import beside this CPU torch (its torchvision is a CUDA build), so the two
architectures stand in for its models, with the layers that matter to an importer: `SmpLikeUnet` an encoder-decoder
with skip connections and nearest-neighbour upsampling (smp's U-Net decoder), `SmpLikeDeepLab` a strided encoder and
a bilinear upsample with align_corners=True (smp's DeepLabV3+ uses nn.UpsamplingBilinear2d). Variants: a softmax
output, channels-last (NHWC) input, two inputs, a dynamic input size, an output at a quarter of the input's size.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

CLASSES = ["background", "circle", "rectangle", "triangle"]
MMSEG_MEAN, MMSEG_STD = "123.675,116.28,103.53", "58.395,57.12,57.375"  # mmsegmentation's ImageNet values
SIZE = 64


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU())


class SmpLikeUnet(nn.Module):
    """Two strided stages down, two up with nearest upsampling and skip connections, then a 1×1 head."""

    def __init__(self, classes: int = len(CLASSES)) -> None:
        super().__init__()
        self.stem, self.down1, self.down2 = _block(3, 8), _block(8, 16, 2), _block(16, 16, 2)
        self.up1, self.up2 = _block(32, 16), _block(24, 8)
        self.head = nn.Conv2d(8, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.stem(x)
        s1 = self.down1(s0)
        x = self.down2(s1)
        x = self.up1(torch.cat([nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"), s1], 1))
        x = self.up2(torch.cat([nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"), s0], 1))
        return self.head(x)


class SmpLikeDeepLab(nn.Module):
    """Stride-4 features, a 1×1 classifier, and ×4 bilinear upsampling with align_corners=True."""

    def __init__(self, classes: int = len(CLASSES), softmax: bool = False, upsample: bool = True) -> None:
        super().__init__()
        self.encoder = nn.Sequential(_block(3, 8, 2), _block(8, 16, 2), _block(16, 16))
        self.classifier = nn.Conv2d(16, classes, 1)
        self.upsample = nn.UpsamplingBilinear2d(scale_factor=4) if upsample else nn.Identity()
        self.softmax = softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.upsample(self.classifier(self.encoder(x)))
        return x.softmax(1) if self.softmax else x


class ChannelsLast(nn.Module):
    """A model whose graph takes N×H×W×3 (a TensorFlow-style export)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = SmpLikeDeepLab()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.permute(0, 3, 1, 2))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = SmpLikeDeepLab()

    def forward(self, x: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.inner(x) + depth.mean()


def export(model: nn.Module, path: Path, *, nhwc: bool = False, inputs: int = 1, dynamic_size: bool = False) -> Path:
    """torch.onnx.export at opset 17 with names "input" (and "depth") and "output", as third-party scripts do."""
    torch.manual_seed(0)
    for module in model.modules():  # random BN statistics: outputs that vary across the image
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    model.eval()
    shape = (1, SIZE, SIZE, 3) if nhwc else (1, 3, SIZE, SIZE)
    args = (torch.randn(shape),) + ((torch.randn(1, 1, SIZE, SIZE),) if inputs == 2 else ())
    names = ["input", "depth"][:inputs]
    axes = {"input": {2: "height", 3: "width"}, "output": {2: "height", 3: "width"}} if dynamic_size else None
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, args, buffer, opset_version=17, dynamo=False, input_names=names, output_names=["output"],
            dynamic_axes=axes,
        )  # fmt: skip
    path.write_bytes(buffer.getvalue())
    return path


def write_classes(path: Path, names: list[str] = CLASSES) -> Path:
    path.write_text("\n".join(names) + "\n")
    return path
