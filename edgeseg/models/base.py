"""The base classes every backbone and segmentation model derives from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.models.layers import check_upsample


class Backbone(nn.Module):
    """An encoder that returns a dict of named feature maps, ordered shallow to deep.

    Subclasses set:
      feature_info      {name: (channels, stride)} for every map `forward` returns, in order.
      torchvision_name  the torchvision model whose ImageNet state dict loads into this module (for a backbone
                        with no torchvision counterpart, its own name).
      head_prefixes     key prefixes of that state dict that belong to the classification head
                        (not part of the backbone) and are dropped when loading it.
      weights_hint      what to pass as a pretrained file, for error messages.
    """

    feature_info: dict[str, tuple[int, int]]
    torchvision_name: str
    head_prefixes: tuple[str, ...] = ()

    @property
    def weights_hint(self) -> str:
        return f"torchvision's ImageNet {self.torchvision_name} .pth file"

    def pretrained_entries(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The entries of a pretrained file's state dict that are meant for this backbone (by default all but the
        classification head's); `load_backbone_weights` then requires them to fit it exactly."""
        return {k: v for k, v in state.items() if not k.startswith(self.head_prefixes)}

    def cam_layers(self) -> dict[str, str]:
        """Module names (relative to the backbone) whose outputs Grad-CAM explains, shallow to deep,
        with a label each. Default: every conv layer."""
        return {name: name for name, m in self.named_modules() if isinstance(m, nn.Conv2d)}

    @property
    def stride(self) -> int:
        """The stride of the deepest feature map."""
        return max(stride for _, stride in self.feature_info.values())


class SegmentationModel(nn.Module, ABC):
    """A backbone plus a decoder that maps (N, 3, H, W) images to (N, num_classes, H, W) logits.

    Any input size works: the input is zero-padded at the bottom/right to a multiple of the
    network's stride, so every skip connection and ×2 upsample lines up exactly (for bilinear and
    transposed decoders alike), and the logits are cropped back to H×W.

    training_only: names of the modules that run in training mode only (PIDNet's auxiliary and boundary heads):
    never in an exported graph, and not counted in the deployed network's parameters.
    """

    training_only: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, backbone: Backbone, *, num_classes: int, upsample: str, pad_multiple: int, config: dict[str, Any]
    ) -> None:
        """config: the registered builder's name ("model") and its arguments other than num_classes and
        upsample (e.g. output_stride). The class records them itself, so a model made from its class is
        saved and rebuilt like one made by `build_model`."""
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be ≥ 1, got {num_classes}")
        self.backbone = backbone
        self.num_classes = num_classes
        self.upsample = check_upsample(upsample)
        self.pad_multiple = pad_multiple
        self.backbone_frozen = False
        # Enough to rebuild the model (a checkpoint's model_config): what `rebuild_model` passes back.
        self.config: dict[str, Any] = {
            "model": config["model"],
            "num_classes": num_classes,
            "upsample": upsample,
            **config,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """(N, num_classes, H, W) logits; in training mode, a model with training-only heads (PIDNet) returns
        them too: {"out": logits, "aux": ..., "boundary": ...}, each at H×W (edgeseg/train/losses.py)."""
        height, width = x.shape[-2:]
        pad_h = (-height) % self.pad_multiple
        pad_w = (-width) % self.pad_multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        outputs = self.forward_padded(x)
        if pad_h or pad_w:
            if isinstance(outputs, dict):
                return {name: value[..., :height, :width] for name, value in outputs.items()}
            outputs = outputs[..., :height, :width]
        return outputs

    @abstractmethod
    def forward_padded(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Logits for an input whose height and width are multiples of `pad_multiple` (in training mode, with
        the outputs of training-only heads in a dict, as `forward` says)."""

    def freeze_backbone(self) -> None:
        """Stop training the backbone: no gradients, and its BatchNorm statistics stay fixed."""
        self.backbone.requires_grad_(False)
        self.backbone_frozen = True
        self.backbone.eval()

    def unfreeze_backbone(self) -> None:
        """Train the backbone again."""
        self.backbone.requires_grad_(True)
        self.backbone_frozen = False
        self.backbone.train(self.training)

    def train(self, mode: bool = True) -> SegmentationModel:
        # A frozen backbone keeps its BN layers in eval mode, or their running stats would drift.
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self
