"""Every registered model × upsample keeps the input's H×W, trains, and freezes its backbone."""

from __future__ import annotations

import pytest
import torch

from edgeseg.models import UPSAMPLE_MODES, build_model, list_models

CASES = [(name, mode) for name in list_models() for mode in UPSAMPLE_MODES]


@pytest.mark.parametrize(("name", "upsample"), CASES)
@pytest.mark.parametrize("size", [(64, 96), (65, 97), (333, 501)], ids=["even", "odd", "333x501"])
def test_output_size_equals_input_size(name, upsample, size):
    torch.manual_seed(0)
    model = build_model(name, num_classes=5, upsample=upsample).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, *size))
    assert logits.shape == (1, 5, *size)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("output_stride", [8, 16])
def test_deeplab_output_strides(output_stride):
    model = build_model("deeplabv3plus_mobilenetv2", num_classes=3, output_stride=output_stride).eval()
    assert model.backbone.feature_info["out"] == (320, output_stride)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 77, 51)).shape == (1, 3, 77, 51)


def test_unknown_output_stride_is_refused():
    with pytest.raises(ValueError, match="output_stride"):
        build_model("deeplabv3plus_mobilenetv2", output_stride=32)


@pytest.mark.parametrize(("name", "upsample"), CASES)
def test_backward_reaches_every_parameter(name, upsample):
    model = build_model(name, num_classes=4, upsample=upsample).train()
    outputs = model(torch.randn(2, 3, 64, 64))
    outputs = outputs if isinstance(outputs, dict) else {"out": outputs}  # training-only heads (PIDNet) too
    sum(output.logsumexp(1).mean() for output in outputs.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_freeze_and_unfreeze_backbone():
    model = build_model("deeplabv3plus_mobilenetv2", num_classes=3)
    model.freeze_backbone()
    model.train()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("backbone."))
    # BN statistics of a frozen backbone must not move while the decoder trains.
    assert not any(m.training for m in model.backbone.modules())
    before = model.backbone.features[1].conv[0][1].running_mean.clone()
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    assert torch.equal(before, model.backbone.features[1].conv[0][1].running_mean)
    assert all(p.grad is None for p in model.backbone.parameters())

    model.unfreeze_backbone()
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.training for m in model.backbone.modules())


def test_config_records_every_argument():
    model = build_model("unet_vgg16", num_classes=7)
    assert model.config == {"model": "unet_vgg16", "num_classes": 7, "upsample": "bilinear"}
    assert build_model("unet_classic").config["upsample"] == "transposed"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="upsample"):
        build_model("unet_vgg16", upsample="nearest")
    with pytest.raises(TypeError):
        build_model("unet_vgg16", 21)  # keyword-only
    with pytest.raises(Exception, match="unexpected keyword argument 'output_stride'"):
        build_model("unet_vgg16", output_stride=8)
    with pytest.raises(Exception, match="unknown model"):
        build_model("segformer")
