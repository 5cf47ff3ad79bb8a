"""Which layers `edgeseg explain` explains: the default for every registered model, the sweep, the listing."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from edgeseg.errors import EdgesegError
from edgeseg.explain.layers import (
    encoder_layers,
    last_decoder_layer,
    layer_label,
    layer_listing,
    layers_to_explain,
)
from edgeseg.models import build_model, list_models

# Every registry entry, and DeepLabV3+ with the dense head older checkpoints hold.
MODELS = [(name, {}) for name in list_models()] + [("deeplabv3plus_mobilenetv2", {"separable": False})]


@pytest.mark.parametrize(("name", "kwargs"), MODELS, ids=[f"{n}{'-dense' if k else ''}" for n, k in MODELS])
def test_the_default_is_the_last_activation_before_the_logits(name, kwargs):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3, **kwargs).eval()
    ran: list[tuple[str, tuple[int, ...]]] = []
    handles = [
        module.register_forward_hook(lambda m, i, o, name=module_name: ran.append((name, tuple(o.shape))))
        for module_name, module in model.named_modules()
        if isinstance(module, nn.ReLU) and not module_name.startswith("backbone")
    ]
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, 64, 64))
    finally:
        for handle in handles:
            handle.remove()
    default = last_decoder_layer(model)
    assert ran[-1][0] == default  # what the classifier reads, not merely the last ReLU declared
    height, width = ran[-1][1][-2:]
    # The decoder's finest resolution (stride 4 in DeepLabV3+, 8 in PIDNet, 1 in the U-Nets), not the deep features'.
    assert height * width == max(h * w for _, (*_, h, w) in ran) and 8 * height >= 64
    assert default not in encoder_layers(model)


def test_deeplab_default_follows_its_head():
    separable = build_model("deeplabv3plus_mobilenetv2", num_classes=3)
    dense = build_model("deeplabv3plus_mobilenetv2", num_classes=3, separable=False)
    assert last_decoder_layer(separable) == "fuse.1.5"  # depthwise → BN → ReLU → pointwise → BN → ReLU
    assert last_decoder_layer(dense) == "fuse.1.2"


@pytest.fixture(scope="module")
def deeplab():
    return build_model("deeplabv3plus_mobilenetv2", num_classes=3)


def test_default_row_layer_is_the_decoder_and_the_sweep_ends_with_it(deeplab):
    assert layers_to_explain(deeplab) == {"fuse.1.5": "decoder's last layer (fuse.1.5)"}
    sweep = layers_to_explain(deeplab, sweep=True)
    encoder = encoder_layers(deeplab)
    assert list(sweep) == [*encoder, "fuse.1.5"]
    assert list(sweep.values())[:2] == ["stem", "block 1"]


def test_a_chosen_layer_is_the_row_figures_and_moves_last_in_the_sweep(deeplab):
    assert layers_to_explain(deeplab, "backbone.features.0") == {"backbone.features.0": "stem"}
    sweep = layers_to_explain(deeplab, "backbone.features.0", sweep=True)
    assert list(sweep)[-1] == "backbone.features.0" and len(sweep) == len(encoder_layers(deeplab))
    assert layers_to_explain(deeplab, "aspp.project") == {"aspp.project": "aspp.project"}
    assert layer_label(deeplab, "fuse.1.5") == "decoder's last layer (fuse.1.5)"


def test_an_unknown_layer_is_refused_before_any_work(deeplab):
    with pytest.raises(EdgesegError, match=re.escape("no layer named 'fuse.9' in this model; see `edgeseg explain")):
        layers_to_explain(deeplab, "fuse.9")


def test_listing_names_the_default_first(deeplab):
    lines = layer_listing(deeplab)
    assert lines[0] == "default (the row figure's): fuse.1.5, the decoder's last layer"
    assert any(line.split() == ["backbone.features.0", "stem"] for line in lines)
    assert any(line.split()[:2] == ["classifier", "3"] for line in lines)  # the decoder's convs, by name
