"""PIDNet: the authors' layout and cost, any input size, training-only heads, and their ImageNet file's loading.

The fixture lists the keys and shapes of the authors' own network (github.com/XuJiacong/PIDNet, models/pidnet.py,
19 classes, with its training heads), read once from their definition; the ImageNet part's size is checked
against an outside count (OpenMMLab's conversion of the authors' PIDNet-S ImageNet file: 302 tensors, 6,456,274
values).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edgeseg.models import build_model
from edgeseg.models.backbones.imagenet import WeightsDownloadError
from edgeseg.models.backbones.weights import PretrainedWeightsError
from edgeseg.models.complexity import count_params, describe_model
from edgeseg.models.pidnet import PyramidPooling

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "pidnet_state_dicts.json").read_text())
SIZES = ("pidnet_s", "pidnet_m", "pidnet_l")


def authors_state_dict(name: str, seed: int = 0, keep=lambda key: True) -> dict[str, torch.Tensor]:
    """A state dict with the authors' key names and shapes (19 classes), filled with random values a network can
    train from (positive variances, weights small enough that activations stay finite)."""
    generator = torch.Generator().manual_seed(seed)

    def value(key: str, shape: list[int]) -> torch.Tensor:
        if key.endswith("num_batches_tracked"):
            return torch.tensor(3)
        noise = torch.randn(shape, generator=generator)
        if key.endswith("running_var"):
            return 0.5 + noise.abs()
        if len(shape) == 1 and key.endswith("weight"):  # a BatchNorm's scale
            return 1 + 0.1 * noise
        return 0.05 * noise

    return {key: value(key, shape) for key, shape in FIXTURE["models"][name]["keys"] if keep(key)}


def imagenet_part(key: str) -> bool:
    """What the authors' ImageNet pretraining covers: the stem and the I and P branches."""
    return key.split(".")[0] in {f"layer{i}" for i in range(1, 6)} | {
        *("conv1", "layer3_", "layer4_", "layer5_", "compression3", "compression4", "pag3", "pag4")
    }


@pytest.mark.parametrize("name", SIZES)
def test_state_dict_is_the_authors_with_the_pretrained_part_as_backbone(name):
    model = build_model(name, num_classes=19)
    ours = {k.removeprefix("backbone."): tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == {k: tuple(s) for k, s in FIXTURE["models"][name]["keys"]}
    backbone = {k for k in model.state_dict() if k.startswith("backbone.")}
    assert {k.removeprefix("backbone.") for k in backbone} == {k for k in ours if imagenet_part(k)}


def test_pidnet_s_imagenet_part_has_the_published_size():
    state = build_model("pidnet_s").backbone.state_dict()
    assert len(state) == 302 and sum(v.numel() for v in state.values()) == 6_456_274


def test_pidnet_s_cost_is_the_papers():
    """7.6 M parameters and 94.4 GFLOPs (2 per multiply-add) at 1024×2048 with 19 classes, within 3 %; 11.8 at 512²."""
    city = describe_model("pidnet_s", upsample="bilinear", height=1024, width=2048, num_classes=19)
    model = build_model("pidnet_s", num_classes=19)
    assert city["params"] == count_params(model) - count_params(model.seghead_p) - count_params(model.seghead_d)
    assert city["params_m"] == pytest.approx(7.6, rel=0.03) and city["training_only_params"] == 95_220
    assert city["gflops"] == pytest.approx(94.4, rel=0.03)
    assert describe_model("pidnet_s", upsample="bilinear", height=512, width=512, num_classes=19)["gflops"] == (
        pytest.approx(11.8, rel=0.01)
    )


@pytest.mark.parametrize("size", [(512, 512), (480, 640), (128, 128), (96, 128), (16, 16), (37, 53)])
def test_any_input_size_gives_logits_of_that_size(size):
    torch.manual_seed(0)
    model = build_model("pidnet_s", num_classes=4).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, *size))
    assert logits.shape == (1, 4, *size) and torch.isfinite(logits).all()


def test_training_heads_run_in_training_only():
    torch.manual_seed(0)
    model = build_model("pidnet_s", num_classes=3)
    x = torch.randn(2, 3, 72, 88)
    outputs = model.train()(x)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {
        "out": (2, 3, 72, 88),
        "aux": (2, 3, 72, 88),
        "boundary": (2, 1, 72, 88),
    }
    calls = []
    for head in (model.seghead_p, model.seghead_d):
        head.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        logits = model.eval()(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 3, 72, 88) and not calls


def test_pyramid_windows_average_only_the_map():
    """A constant map pools to the same constant at every level, border cells included, at any size: the
    pyramid's windows count no zero padding."""
    pyramid = PyramidPooling(8, 4, 8, sequential=False).eval()
    for size in ((1, 1), (3, 5), (8, 8), (16, 32)):
        x = torch.full((1, 8, *size), 2.5)
        for level in range(1, 5):
            pooled = getattr(pyramid, f"scale{level}")[0](x)
            assert torch.allclose(pooled, torch.full_like(pooled, 2.5)), (size, level)


def test_authors_imagenet_file_loads_into_the_backbone(tmp_path):
    """Their ImageNet file: a classification checkpoint ({"state_dict": ..., "epoch": ...}) with the I and P
    branches under the segmentation network's names, plus a classifier of its own."""
    state = authors_state_dict("pidnet_s", keep=imagenet_part)
    state["linear.weight"], state["linear.bias"] = torch.randn(1000, 1024), torch.randn(1000)
    path = tmp_path / "PIDNet_S_ImageNet.pth.tar"
    torch.save({"epoch": 120, "best_acc1": 70.1, "state_dict": state}, path)
    torch.manual_seed(0)
    plain = build_model("pidnet_s", num_classes=5).state_dict()
    torch.manual_seed(0)
    model = build_model("pidnet_s", num_classes=5, pretrained_backbone=path)
    for key, value in model.state_dict().items():
        expected = state[key.removeprefix("backbone.")] if key.startswith("backbone.") else plain[key]
        assert torch.equal(value, expected), key  # the file's backbone; the rest as built without it


def test_authors_segmentation_checkpoint_lends_its_backbone(tmp_path):
    """Their Cityscapes checkpoints are saved from a wrapper: every key under "model."; the D branch and heads
    there (19 classes) are not the backbone's and are left out."""
    state = {f"model.{k}": v for k, v in authors_state_dict("pidnet_s", seed=1).items()}
    path = tmp_path / "PIDNet_S_Cityscapes_val.pt"
    torch.save(state, path)
    model = build_model("pidnet_s", num_classes=4, pretrained_backbone=path)
    assert torch.equal(model.backbone.pag3.f_x[0].weight, state["model.pag3.f_x.0.weight"])
    assert model.seghead_p.conv2.out_channels == 4


def test_wrong_pidnet_files_are_refused_in_one_line(tmp_path):
    medium = tmp_path / "PIDNet_M_ImageNet.pth.tar"
    torch.save({"state_dict": authors_state_dict("pidnet_m", keep=imagenet_part)}, medium)
    wrong_width = r"does not fit the pidnet_s backbone \(\d+ mismatches: conv1"
    with pytest.raises(PretrainedWeightsError, match=wrong_width) as e:
        build_model("pidnet_s", pretrained_backbone=medium)
    assert "\n" not in str(e.value) and "PIDNet_S_ImageNet.pth.tar" in str(e.value)
    torchvision_like = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, torchvision_like)
    with pytest.raises(PretrainedWeightsError, match=r"302 mismatches: missing conv1\.0\.weight"):
        build_model("pidnet_s", pretrained_backbone=torchvision_like)


def test_imagenet_by_name_says_where_the_authors_file_is():
    with pytest.raises(WeightsDownloadError, match=r"published without a checksum.*--pretrained-backbone PATH/"):
        build_model("pidnet_l", pretrained_backbone="imagenet")
