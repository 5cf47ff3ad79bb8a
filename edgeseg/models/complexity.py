"""Parameter and FLOP counts, computed on the meta device: no memory, no arithmetic, instant."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from edgeseg.models.registry import accepts, build_model


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def deployed_params(model: torch.nn.Module) -> int:
    """Parameters of the network as exported: without the modules that run in training only."""
    return count_params(model) - sum(count_params(getattr(model, n)) for n in getattr(model, "training_only", ()))


def count_flops(model: torch.nn.Module, height: int, width: int, batch: int = 1) -> int:
    """FLOPs of one forward pass (a multiply-add counts as 2), from torch.utils.flop_counter."""
    device = next(model.parameters()).device
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.empty(batch, 3, height, width, device=device))
    return counter.get_total_flops()


def head_of(model: torch.nn.Module) -> str:
    """ "separable" or "dense" for a model with both heads (DeepLabV3+), "" for the others."""
    if not hasattr(model, "separable"):
        return ""
    return "separable" if model.separable else "dense"


def head_variants(name: str) -> list[dict[str, Any]]:
    """Builder arguments of each head a model offers: [{}] for one head, separable then dense otherwise."""
    if not accepts(name, "separable"):
        return [{}]
    return [{"separable": True}, {"separable": False}]


def describe_model(name: str, *, upsample: str, height: int, width: int, **kwargs: Any) -> dict[str, Any]:
    """One row of `edgeseg models`: parameters (of the deployed network, and of its backbone) and GFLOPs at
    height × width. A model's training-only heads are not deployed: "training_only_params" counts them apart."""
    with torch.device("meta"):
        model = build_model(name, upsample=upsample, **kwargs)
    flops = count_flops(model, height, width)
    params = deployed_params(model)
    return {
        "model": name,
        "upsample": upsample,
        "head": head_of(model),
        "params": params,
        "params_m": round(params / 1e6, 3),
        "training_only_params": count_params(model) - params,
        "backbone_params_m": round(count_params(model.backbone) / 1e6, 3),
        "flops": flops,
        "gflops": round(flops / 1e9, 2),
        "input": [height, width],
    }
