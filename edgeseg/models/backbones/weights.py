"""Loading torchvision ImageNet weights into edgeseg's backbones."""

from __future__ import annotations

from pathlib import Path

import torch

from edgeseg.errors import EdgesegError, describe
from edgeseg.models.backbones.imagenet import imagenet_file
from edgeseg.models.base import Backbone

_SHOW = 5  # mismatches listed in an error message


class PretrainedWeightsError(EdgesegError):
    """A pretrained-backbone file that does not fit the backbone."""


def load_backbone_weights(backbone: Backbone, source: str | Path) -> None:
    """Load a torchvision ImageNet state dict into `backbone`, strictly.

    `source` is a `.pth` file holding torchvision's state dict for `backbone.torchvision_name`
    (optionally wrapped as {"state_dict": ...} or {"model": ...}), or "imagenet" for torchvision's published
    ImageNet file, taken from torch's hub cache or downloaded into it (see `imagenet_file`). The
    classification head's keys are dropped; every other key must match by name and shape, else a
    PretrainedWeightsError lists the first mismatches.
    """
    state = _imagenet_state_dict(backbone) if str(source) == "imagenet" else _read_state_dict(Path(source))
    state = backbone.pretrained_entries(state)
    expected = backbone.state_dict()
    problems = [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [
        f"{k}: file has {tuple(v.shape)}, backbone needs {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    if problems:
        raise PretrainedWeightsError(
            f"{source} does not fit the {backbone.torchvision_name} backbone ({len(problems)} mismatches: "
            f"{'; '.join(problems[:_SHOW])}{'; …' if len(problems) > _SHOW else ''}); "
            f"pass {backbone.weights_hint}"
        )
    backbone.load_state_dict(state, strict=True)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained backbone file not found: {path}")
    try:
        # weights_only: a file from a stranger must not run code (docs/architecture.md).
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PretrainedWeightsError(f"cannot read {path} as a PyTorch state dict ({describe(exc)})") from exc
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PretrainedWeightsError(f"{path} holds no state dict of tensors; pass a torchvision .pth file")
    return obj


def _imagenet_state_dict(backbone: Backbone) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for the backbone, from torch's hub cache or downloaded into it."""
    return _read_state_dict(imagenet_file(backbone.torchvision_name))
