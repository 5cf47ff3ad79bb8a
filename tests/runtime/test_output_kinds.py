"""The runtime on both exported output kinds (logits, and the argmax in the graph), and the fast host path."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from edgeseg.runtime.backends import open_model
from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD, PAD_GRAY, fit, normalize, place, preprocess
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.segmenter import Segmenter


@pytest.fixture(scope="module")
def both_kinds(tmp_path_factory):
    """One seeded, untrained DeepLabV3+ exported twice. Untrained features vary little across the image;
    a zero classifier bias and larger weights make its argmax vary, or every mask would be one class."""
    from edgeseg.export.onnx_export import export_onnx
    from edgeseg.models import build_model
    from edgeseg.train.checkpoint import make_metadata

    torch.manual_seed(3)
    model = build_model("deeplabv3plus_mobilenetv2", num_classes=4).eval()
    with torch.no_grad():
        model.classifier.bias.zero_()
        model.classifier.weight.mul_(1e4)
    meta = make_metadata(model, ("bg", "a", "b", "c"), (64, 64), IMAGENET_MEAN, IMAGENET_STD, "letterbox")
    out = tmp_path_factory.mktemp("kinds")
    for kind in ("logits", "classes"):
        export_onnx(model, meta, out / f"{kind}.onnx", output=kind, log=lambda m: None)
    return out / "logits.onnx", out / "classes.onnx"


def test_runtime_gives_the_same_masks_for_both_output_kinds(both_kinds, tiny_video):
    segmenters = []
    for path in both_kinds:
        segmenters.append(Segmenter(open_model(path, provider="cpu")))
    assert [s.output_kind for s in segmenters] == ["logits", "classes"]
    capture = cv2.VideoCapture(str(tiny_video))
    frames = 0
    seen: set[int] = set()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        logits_mask, classes_mask = (s(frame) for s in segmenters)
        assert logits_mask.shape == frame.shape[:2] and logits_mask.dtype == np.uint8
        np.testing.assert_array_equal(classes_mask, logits_mask)
        seen |= set(np.unique(classes_mask).tolist())
        frames += 1
    capture.release()
    assert frames == 40 and len(seen) > 1  # masks with more than one class: the comparison means something


def test_segmenter_refuses_an_output_its_metadata_does_not_describe(both_kinds):
    from edgeseg.errors import EdgesegError

    backend = open_model(both_kinds[1], provider="cpu")
    backend.metadata = replace(backend.metadata, output="logits")  # a class map where logits are expected
    segmenter = Segmenter(backend)
    with pytest.raises(EdgesegError, match="metadata says logits"):
        segmenter(np.zeros((48, 64, 3), np.uint8))


def _reference_normalize(image, mean, std):
    return ((image.astype(np.float32) / 255 - np.float32(mean)) / np.float32(std)).transpose(2, 0, 1)


def test_normalize_and_bgr_swap_match_the_plain_formula():
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        normalize(image, IMAGENET_MEAN, IMAGENET_STD),
        _reference_normalize(image, IMAGENET_MEAN, IMAGENET_STD),
        atol=1e-5,
    )
    bgr = image[:, :, ::-1].copy()
    np.testing.assert_array_equal(
        normalize(bgr, IMAGENET_MEAN, IMAGENET_STD, bgr=True), normalize(image, IMAGENET_MEAN, IMAGENET_STD)
    )
    rgb_input, placement = preprocess(image, (64, 64))
    bgr_input, same = preprocess(bgr, (64, 64), bgr=True)
    assert same == placement
    np.testing.assert_array_equal(bgr_input, rgb_input)


@pytest.mark.parametrize("image_size", [(480, 640), (50, 100), (120, 40), (64, 64), (200, 100)])
def test_fit_pads_exactly_as_a_filled_canvas(image_size):
    image = np.random.default_rng(1).integers(0, 256, (*image_size, 3), dtype=np.uint8)
    placement = place(image_size, (64, 64))
    canvas = np.full((64, 64, 3), PAD_GRAY, np.uint8)
    resized = cv2.resize(image, (placement.width, placement.height), interpolation=cv2.INTER_LINEAR)
    canvas[placement.top : placement.top + placement.height, placement.left : placement.left + placement.width] = (
        resized
    )
    np.testing.assert_array_equal(fit(image, placement, PAD_GRAY, cv2.INTER_LINEAR), canvas)


def test_colour_is_the_palette_lookup():
    palette = [[0, 0, 0], [255, 0, 0], [0, 128, 255]]
    renderer = Renderer(["bg", "a", "b"], palette, view="mask")
    mask = np.array([[0, 1], [2, 1]], np.uint8)
    expected = np.asarray(palette, np.uint8)[:, ::-1][mask]  # RGB palette → BGR image
    np.testing.assert_array_equal(renderer.draw(np.zeros((2, 2, 3), np.uint8), mask), expected)
