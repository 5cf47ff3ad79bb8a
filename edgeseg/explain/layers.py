"""Which layers `edgeseg explain` explains: the default one, the encoder's sweep, and what --layer accepts.

The default is the decoder's last activation, the one the classifier reads. It is where the evidence the
network used for each pixel is gathered, and Grad-CAM there points at the explained class on every model
measured (benchmarks/results/gradcam_pointing_*). The deepest encoder layer, the classic Grad-CAM choice, may
hold no positive evidence at all: where classes can be told apart by colour (the quickstart's data) a network
decides from shallow features. The encoder sweep, shallow to deep, stays the research view (`--sweep`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from edgeseg.errors import EdgesegError


def encoder_layers(model: nn.Module) -> dict[str, str]:
    """The encoder layers Grad-CAM explains, shallow to deep: full module name → label."""
    return {f"backbone.{name}": label for name, label in model.backbone.cam_layers().items()}


def last_decoder_layer(model: nn.Module) -> str:
    """The default layer: the decoder's last activation, the last ReLU outside the backbone.

    One rule for every registered model (tests/explain/test_layers.py checks that, for each registry entry,
    it is the last activation to run before the logits): DeepLabV3+'s fuse block (`fuse.1.5` with the
    separable head, `fuse.1.2` with the dense one), the U-Nets' last decoder stage (`decoder.N.conv.1.2`).
    """
    return [name for name, m in model.named_modules() if isinstance(m, nn.ReLU) and not name.startswith("backbone")][-1]


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every conv layer of the model with its module name."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def find_layers(model: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    """The modules called `names`; an unknown name is the user's error, with where to look."""
    modules = dict(model.named_modules())
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise EdgesegError(f"no layer named {unknown[0]!r} in this model; see `edgeseg explain CKPT --list-layers`")
    return {name: modules[name] for name in names}


def layer_label(model: nn.Module, name: str) -> str:
    """How a figure names a layer: the encoder's label, "decoder's last layer (NAME)", or the module name."""
    if name == last_decoder_layer(model):
        return f"decoder's last layer ({name})"
    return encoder_layers(model).get(name, name)


def layers_to_explain(model: nn.Module, layer: str | None = None, sweep: bool = False) -> dict[str, str]:
    """Module name → label of the layers to explain, in order; the last is the one the row figure shows.

    That one is `layer`, else the default (the decoder's last layer). With `sweep`, every encoder layer comes
    first, shallow to deep, so the sweep ends with the layer the row shows.
    """
    shown = layer or last_decoder_layer(model)
    find_layers(model, [shown])
    labels = {name: label for name, label in encoder_layers(model).items() if name != shown} if sweep else {}
    labels[shown] = layer_label(model, shown)
    return labels


def layer_listing(model: nn.Module) -> list[str]:
    """The lines of `edgeseg explain CKPT --list-layers`."""
    lines = [f"default (the row figure's): {last_decoder_layer(model)}, the decoder's last layer"]
    lines.append("encoder layers, shallow to deep (--sweep draws all of them before the row figure's):")
    lines += [f"  {name:40s} {label}" for name, label in encoder_layers(model).items()]
    lines.append("other conv layers (any module name works with --layer):")
    lines += [
        f"  {name:40s} {conv.out_channels} channels"
        for name, conv in conv_layers(model)
        if not name.startswith("backbone.")
    ]
    return lines
