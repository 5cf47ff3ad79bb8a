"""Grad-CAM for segmentation: maps, methods, hooks, targets, and the CLI on real checkpoints."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from edgeseg.explain.cam import METHODS, ClassAbsent, explain
from edgeseg.explain.layers import encoder_layers
from edgeseg.models import build_model
from edgeseg.runtime.preprocess import place


class RedDetector(nn.Module):
    """A hand-built segmenter whose class-1 logit is a feature that fires on red pixels only: every CAM
    method must point at the red square, wherever it is (a pointing game with a known answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.features.weight.zero_()
            self.features.weight[0, 0] = 4.0  # channel 0: redness
            self.features.weight[0, 1] = -4.0
            self.features.weight[1, 1] = 1.0  # channel 1: greenness, irrelevant to class 1
            self.features.bias.copy_(torch.tensor([-1.0, 0.0]))
        self.act = nn.ReLU()
        self.head = nn.Conv2d(2, 2, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[[[-1.0]], [[0.2]]], [[[1.0]], [[0.0]]]]))
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.act(self.features(x)))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_points_at_the_evidence(method):
    image = torch.zeros(1, 3, 40, 40)
    image[:, 1] = 0.5  # green background
    image[:, 0, 25:35, 5:15] = 1.0  # a red square
    image[:, 1, 25:35, 5:15] = 0.0
    result = explain(RedDetector(), image, class_index=1, layers=["act"], method=method)
    cam = result.cams["act"].numpy()
    region = np.zeros((40, 40), bool)
    region[25:35, 5:15] = True
    assert cam.shape == (40, 40) and cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    assert cam[region].sum() / cam.sum() > 0.9  # the square is 6 % of the image
    assert result.target.sum() > 0


@pytest.fixture(scope="module")
def vgg_unet():
    torch.manual_seed(0)
    return build_model("unet_vgg16", num_classes=3).eval()


def test_methods_give_different_valid_maps_in_one_pass(vgg_unet):
    image = torch.randn(1, 3, 48, 64)
    layers = list(encoder_layers(vgg_unet))
    assert len(layers) == 13  # VGG16's 13 convs, as in the U-Net report's sweep
    logits = vgg_unet(image)
    target = torch.zeros(48, 64, dtype=torch.bool)
    target[10:30, 10:40] = True  # an explicit target: random weights predict no particular class
    maps = {}
    for method in METHODS:
        result = explain(vgg_unet, image, 1, layers, method, target=target)
        assert torch.allclose(result.logits, logits, atol=1e-4)
        for cam in result.cams.values():
            assert cam.shape == (48, 64) and cam.min() >= 0 and cam.max() <= 1 and torch.isfinite(cam).all()
        maps[method] = result.cams
    # Compare on the layers where every method finds some positive evidence.
    shared = [name for name in layers if all(maps[m][name].max() > 0 for m in METHODS)]
    assert shared
    for a in METHODS:
        for b in METHODS:
            if a < b:
                assert not torch.allclose(maps[a][shared[0]], maps[b][shared[0]], atol=1e-3), (a, b)


def test_hooks_are_removed_and_nothing_grows(vgg_unet):
    image = torch.randn(1, 3, 32, 32)
    target = torch.ones(32, 32, dtype=torch.bool)

    def hook_count() -> int:
        return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in vgg_unet.modules())

    before = hook_count()
    for _ in range(5):
        explain(vgg_unet, image, 0, list(encoder_layers(vgg_unet)), "gradcam", target=target)
    assert hook_count() == before == 0
    assert all(p.grad is None for p in vgg_unet.parameters())  # gradients are not left on the model
    assert all(p.requires_grad for p in vgg_unet.parameters())
    assert any(m.inplace for m in vgg_unet.modules() if hasattr(m, "inplace"))  # in-place ReLUs restored


def test_absent_class_is_said_not_drawn(vgg_unet):
    image = torch.randn(1, 3, 32, 32)
    with pytest.raises(ClassAbsent):
        explain(vgg_unet, image, 2, ["backbone.features.29"], target=torch.zeros(32, 32, dtype=torch.bool))


def test_unknown_layer_and_method(vgg_unet):
    with pytest.raises(Exception, match="--list-layers"):
        explain(vgg_unet, torch.randn(1, 3, 32, 32), 0, ["backbone.nope"])
    with pytest.raises(Exception, match="--method must be one of"):
        explain(vgg_unet, torch.randn(1, 3, 32, 32), 0, ["backbone.features.29"], method="scorecam")


@pytest.fixture(scope="module")
def vgg_checkpoint(tiny_dataset, tiny_trainer, tmp_path_factory):
    return tiny_trainer(tiny_dataset, tmp_path_factory.mktemp("vgg"), model="unet_vgg16", epochs=2)


def _first_class_present(run_edgeseg, checkpoint, image, out):
    for name in ("circle", "rectangle", "triangle", "background"):
        result = run_edgeseg("explain", checkpoint, image, "--class", name, "--sweep", "--out", out)
        if result.returncode == 0:
            return name, result
        assert "is absent from every prediction" in result.stderr
    raise AssertionError("no class predicted at all")


def test_cli_sweep_for_unet_vgg16_has_13_encoder_panels_then_the_default(
    run_edgeseg, vgg_checkpoint, tiny_dataset, tmp_path
):
    image = sorted((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[0]
    name, _ = _first_class_present(run_edgeseg, vgg_checkpoint, image, tmp_path)
    stem = f"{image.name}_{name}_gradcam"
    for suffix in (".png", ".npy", "_sweep.png", "_sweep.npz"):
        assert (tmp_path / f"{stem}{suffix}").is_file(), suffix
    sweep = np.load(tmp_path / f"{stem}_sweep.npz")
    assert len(sweep.files) == 13 + 1  # VGG16's 13 convs, then the row figure's layer: the decoder's last
    assert sweep.files[-1] == "decoder_3_conv_1_2" and sweep.files[12] == "backbone_features_29"
    cam = np.load(tmp_path / f"{stem}.npy")
    assert np.allclose(cam, sweep["decoder_3_conv_1_2"], atol=1e-3)  # the row figure explains the default layer
    seen = place(cv2.imread(str(image)).shape[:2], (32, 32), "letterbox")
    assert cam.shape == (seen.height, seen.width)  # as the network saw the image: letterbox padding cropped
    layers = run_edgeseg("explain", vgg_checkpoint, "--list-layers")
    assert layers.returncode == 0 and "backbone.features.29" in layers.stdout and "conv5_3" in layers.stdout
    assert "default (the row figure's): decoder.3.conv.1.2" in layers.stdout


def test_cli_mask_from_deployed_model_reports_iou(run_edgeseg, tiny_checkpoint, tiny_onnx, tiny_dataset, tmp_path):
    folder = tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages"
    result = run_edgeseg(
        "explain",
        tiny_checkpoint,
        folder,
        "--class",
        "background",
        "--mask-from",
        tiny_onnx,
        "--method",
        "hirescam",
        "--out",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    ious = [float(line.rsplit(" ", 1)[1]) for line in result.stdout.splitlines() if "IoU of background" in line]
    assert len(ious) == 24 and min(ious) > 0.99  # the ONNX export predicts what PyTorch predicts


def test_cli_errors(run_edgeseg, tiny_checkpoint, tiny_dataset, tmp_path):
    image = next((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))
    for args, message in (
        ((image, "--class", "person"), "is not one of the model's classes: background, circle"),
        ((image,), "pass IMAGE (or a folder) and --class NAME"),
        ((tmp_path / "none.jpg", "--class", "circle"), "not found"),
        ((image, "--class", "circle", "--layer", "backbone.nope"), "no layer named 'backbone.nope'"),
    ):
        result = run_edgeseg("explain", tiny_checkpoint, *args, "--out", tmp_path)
        assert result.returncode == 1, args
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_sweep_with_a_decoder_layer_adds_it_last(run_edgeseg, tiny_checkpoint, tiny_dataset, tmp_path):
    image = sorted((tiny_dataset / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))[0]
    args = ("explain", tiny_checkpoint, image, "--class", "background", "--sweep", "--out", tmp_path)
    result = run_edgeseg(*args, "--layer", "fuse.1")
    assert result.returncode == 0, result.stderr
    sweep = np.load(tmp_path / f"{image.name}_background_gradcam_sweep.npz")
    assert sweep.files[-1] == "fuse_1" and sweep.files[0] == "backbone_features_0"
    assert len(sweep.files) == 1 + 18  # the stem and 17 inverted residual blocks, then the decoder layer
    row = np.load(tmp_path / f"{image.name}_background_gradcam.npy")
    assert np.allclose(row, sweep["fuse_1"], atol=1e-3)  # the row figure explains --layer
