"""Class activation maps for segmentation with forward/backward hooks on named layers.

The target follows the U-Net report behind edgeseg's design: predict, take the pixels whose argmax is
the chosen class as a mask, and back-propagate the sum of that class's logits over the mask. The maps:
  gradcam    weights = spatial mean of the gradients                      (Selvaraju et al. 2017)
  gradcam++  weights = Σ relu(grad) · α, α from 2nd/3rd-order terms       (Chattopadhay et al. 2018)
  xgradcam   weights = Σ grad · act / Σ act                               (Fu et al. 2020)
  hirescam   map = Σ_k grad_k ⊙ act_k, no spatial averaging               (Draelos & Carin 2020)
Each map is ReLU'd, upsampled bilinearly (align_corners=False) to the input and scaled to [0, 1].
Hooks live only for one call; nothing stays attached to the model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.errors import EdgesegError
from edgeseg.explain.layers import find_layers

METHODS = ("gradcam", "gradcam++", "xgradcam", "hirescam")
_EPS = 1e-7


class ClassAbsent(EdgesegError):
    """The chosen class is not in the prediction: there is nothing to explain."""


@dataclass
class Explanation:
    cams: dict[str, torch.Tensor]  # layer name → H×W in [0, 1]
    logits: torch.Tensor  # 1×C×H×W
    target: torch.Tensor  # H×W bool: the pixels whose class logits were back-propagated


def check_method(method: str) -> None:
    """Refuse a CAM method edgeseg does not have, naming those it has."""
    if method not in METHODS:
        raise EdgesegError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")


@contextmanager
def _capture(model: nn.Module, names: Sequence[str]) -> Iterator[tuple[dict, dict]]:
    modules = find_layers(model, names)
    activations: dict[str, torch.Tensor] = {}
    gradients: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def forward(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            activations[name] = output.detach()
            output.register_hook(lambda grad: gradients.__setitem__(name, grad.detach()))

        return forward

    handles = [modules[name].register_forward_hook(hook(name)) for name in names]
    try:
        yield activations, gradients
    finally:
        for handle in handles:
            handle.remove()


def _weights_to_map(method: str, act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    if method == "gradcam":
        return (grad.mean((2, 3), keepdim=True) * act).sum(1)
    if method == "xgradcam":
        weights = (grad * act).sum((2, 3), keepdim=True) / (act.sum((2, 3), keepdim=True) + _EPS)
        return (weights * act).sum(1)
    if method == "gradcam++":
        grad2, grad3 = grad.pow(2), grad.pow(3)
        alpha = grad2 / (2 * grad2 + act.sum((2, 3), keepdim=True) * grad3 + _EPS)
        alpha = torch.where(grad != 0, alpha, torch.zeros_like(alpha))
        weights = (F.relu(grad) * alpha).sum((2, 3), keepdim=True)
        return (weights * act).sum(1)
    return (grad * act).sum(1)  # hirescam: explain() has checked the method


def explain(
    model: nn.Module,
    image: torch.Tensor,
    class_index: int,
    layers: Sequence[str],
    method: str = "gradcam",
    target: torch.Tensor | None = None,
) -> Explanation:
    """CAMs of `layers` for `class_index` on a 1×3×H×W input, in one forward and one backward pass.

    target: the H×W pixels to explain (e.g. a deployed model's mask); default: where the model itself
    predicts `class_index`.
    """
    check_method(method)
    model.eval()
    # In-place ReLUs would overwrite the conv outputs the hooks keep; explain on out-of-place ones.
    inplace = [m for m in model.modules() if getattr(m, "inplace", False)]
    for m in inplace:
        m.inplace = False
    # Gradients are wanted for activations only: weights keep no .grad (and no memory for one).
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        with _capture(model, layers) as (activations, gradients), torch.enable_grad():
            x = image.detach().requires_grad_(True)
            logits = model(x)
            mask = logits.argmax(1)[0] == class_index if target is None else target.bool()
            if not mask.any():
                raise ClassAbsent("the class is absent from the prediction")
            (logits[0, class_index] * mask).sum().backward()
    finally:
        for m in inplace:
            m.inplace = True
        for p in trainable:
            p.requires_grad_(True)
    size = image.shape[-2:]
    cams = {}
    for name in layers:
        cam = F.relu(_weights_to_map(method, activations[name], gradients[name]))[:, None]
        cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0]
        low, high = cam.min(), cam.max()
        cams[name] = (cam - low) / (high - low) if high > low else torch.zeros_like(cam)
    return Explanation(cams, logits.detach(), mask)
