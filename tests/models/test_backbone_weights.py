"""torchvision ImageNet state dicts load strictly into edgeseg's backbones; wrong files fail clearly.

The fixture lists the keys and shapes of torchvision's own state dicts (mobilenet_v2, vgg16, resnet50),
read once from torchvision's model definitions; the totals below are torchvision's published
parameter counts, so the fixture itself is checked against an outside source.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edgeseg.models import build_model
from edgeseg.models.backbones import VGG16, MobileNetV2, ResNet50, load_backbone_weights
from edgeseg.models.backbones.weights import PretrainedWeightsError

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "torchvision_state_dicts.json").read_text())
TORCHVISION_PARAMS = {"mobilenet_v2": 3_504_872, "vgg16": 138_357_544, "resnet50": 25_557_032}
BACKBONES = {"mobilenet_v2": MobileNetV2, "vgg16": VGG16, "resnet50": ResNet50}


def torchvision_state_dict(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with torchvision's exact key names and shapes, filled with random values."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in FIXTURE["models"][arch]["keys"]:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        else:
            state[key] = torch.randn(shape, generator=generator)
    return state


@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_fixture_matches_torchvision_parameter_count(arch):
    keys = FIXTURE["models"][arch]["keys"]
    params = sum(
        torch.Size(shape).numel()
        for key, shape in keys
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    assert params == TORCHVISION_PARAMS[arch]


@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_backbone_keys_are_torchvisions_minus_the_head(arch):
    backbone = BACKBONES[arch]()
    expected = {k: tuple(s) for k, s in FIXTURE["models"][arch]["keys"] if not k.startswith(backbone.head_prefixes)}
    ours = {k: tuple(v.shape) for k, v in backbone.state_dict().items()}
    assert ours == expected


@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_torchvision_file_loads_strictly(arch, tmp_path):
    state = torchvision_state_dict(arch)
    path = tmp_path / f"{arch}.pth"
    torch.save(state, path)
    backbone = BACKBONES[arch]()
    load_backbone_weights(backbone, path)
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_dilated_mobilenet_keeps_torchvision_names(tmp_path):
    path = tmp_path / "mnv2.pth"
    torch.save({"state_dict": torchvision_state_dict("mobilenet_v2")}, path)  # wrapped form
    model = build_model("deeplabv3plus_mobilenetv2", output_stride=8, pretrained_backbone=path)
    assert torch.equal(model.backbone.features[0][0].weight, torch.load(path)["state_dict"]["features.0.0.weight"])


def test_builder_loads_pretrained_backbone(tmp_path):
    path = tmp_path / "vgg16.pth"
    torch.save(torchvision_state_dict("vgg16", seed=3), path)
    model = build_model("unet_vgg16", num_classes=2, pretrained_backbone=path)
    assert torch.equal(model.backbone.features[28].weight, torch.load(path)["features.28.weight"])


def test_wrong_architecture_lists_first_mismatches(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision_state_dict("resnet50"), path)
    with pytest.raises(PretrainedWeightsError) as info:
        load_backbone_weights(MobileNetV2(), path)
    message = str(info.value)
    assert "does not fit the mobilenet_v2 backbone" in message
    assert "missing features.0.0.weight" in message
    assert "…" in message and "\n" not in message


def test_wrong_shape_is_named(tmp_path):
    state = torchvision_state_dict("vgg16")
    state["features.0.weight"] = torch.zeros(32, 3, 3, 3)
    path = tmp_path / "vgg16_bad.pth"
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsError, match=r"features.0.weight: file has \(32, 3, 3, 3\)"):
        load_backbone_weights(VGG16(), path)


@pytest.mark.parametrize("content", [b"not a checkpoint", b""])
def test_unreadable_file_fails_clearly(tmp_path, content):
    path = tmp_path / "garbage.pth"
    path.write_bytes(content)
    with pytest.raises(PretrainedWeightsError, match=r"cannot read .* as a PyTorch state dict"):
        load_backbone_weights(ResNet50(), path)


def test_file_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weights": torch.zeros(1), "payload": Path("x")}, path)  # an arbitrary pickled object
    with pytest.raises(PretrainedWeightsError, match="cannot read"):
        load_backbone_weights(ResNet50(), path)


def test_missing_file(tmp_path):
    with pytest.raises(PretrainedWeightsError, match="not found"):
        load_backbone_weights(VGG16(), tmp_path / "nope.pth")
