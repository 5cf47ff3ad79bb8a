"""docs/architecture.md, rule 3: one pre-processing, in numpy, shared by the runtime and training's evaluation path."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.data.loader import EvalDataset, SampleStore
from edgeseg.data.voc import load_split, read_image
from edgeseg.runtime.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PAD_GRAY,
    class_indices,
    fit,
    image_classes,
    place,
    postprocess,
    preprocess,
    to_image_size,
)


def test_eval_path_gives_the_runtime_tensor(tiny_dataset):
    split = load_split(tiny_dataset, "val")
    dataset = EvalDataset(SampleStore(split), (40, 56))
    for index in range(len(dataset)):
        runtime_input, placement = preprocess(read_image(split.samples[index].image), (40, 56))
        item = dataset[index]
        assert runtime_input.shape == (1, 3, 40, 56) and runtime_input.dtype == np.float32
        assert np.array_equal(item["input"], runtime_input[0])
        assert item["placement"] == placement


def test_letterbox_keeps_aspect_and_pads_gray():
    image = np.full((50, 100, 3), 200, np.uint8)
    tensor, placement = preprocess(image, (64, 64))
    assert (placement.top, placement.left, placement.height, placement.width) == (16, 0, 32, 64)
    gray = (PAD_GRAY / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(tensor[0, :, 0, 0], gray, rtol=1e-5)
    content = (200 / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(tensor[0, :, 32, 32], content, rtol=1e-5)


def test_plain_resize_fills_the_input():
    placement = place((50, 100), (64, 64), mode="resize")
    assert (placement.top, placement.left, placement.height, placement.width) == (0, 0, 64, 64)
    with pytest.raises(ValueError, match="resize mode"):
        place((50, 100), (64, 64), mode="stretch")


@pytest.mark.parametrize("mode", ["letterbox", "resize"])
@pytest.mark.parametrize("image_size", [(50, 100), (120, 40), (64, 64)])
def test_postprocess_undoes_the_placement(mode, image_size):
    rng = np.random.default_rng(0)
    classes = np.kron(rng.integers(0, 5, (image_size[0] // 2, image_size[1] // 2)), np.ones((2, 2))).astype(np.uint8)
    placement = place(image_size, (128, 128), mode)
    import cv2

    placed = fit(classes, placement, 255, cv2.INTER_NEAREST_EXACT)
    logits = np.eye(5, dtype=np.float32)[np.minimum(placed, 4)].transpose(2, 0, 1)
    assert postprocess(logits, placement).shape == image_size
    assert np.mean(postprocess(logits, placement) == classes) > 0.97


def test_preprocess_refuses_what_is_not_rgb_uint8():
    with pytest.raises(ValueError, match="RGB uint8"):
        preprocess(np.zeros((10, 10), np.uint8), (32, 32))
    with pytest.raises(ValueError, match="RGB uint8"):
        preprocess(np.zeros((10, 10, 3), np.float32), (32, 32))


@pytest.mark.parametrize("classes", [1, 2, 21, 255, 300])
def test_class_indices_are_numpys_argmax_ties_included(classes):
    rng = np.random.default_rng(classes)
    scores = rng.integers(-3, 4, size=(classes, 31, 47)).astype(np.float32)  # few values: many ties
    scores[:, 0, :] = 1.5  # a row where every class ties: the lowest index wins
    want = scores.argmax(axis=0)
    got = class_indices(scores)
    assert got.dtype == np.uint8 and got.shape == (31, 47)
    if classes <= 256:
        np.testing.assert_array_equal(got, want)
        assert (got[0] == 0).all()
    else:  # a uint8 class map cannot hold index 300: what it held before, numpy's argmax cast
        np.testing.assert_array_equal(got, want.astype(np.uint8))
    np.testing.assert_array_equal(class_indices(scores.astype(np.float16)), got)  # FP16 logits, as an engine's
    top = np.full((31, 47), np.nan, np.float32)  # the running maximum, handed on to the confidence
    np.testing.assert_array_equal(class_indices(scores, top), got)
    np.testing.assert_array_equal(top, scores.max(axis=0))


@pytest.mark.parametrize("image_size", [(48, 64), (64, 48), (64, 64)])
def test_the_class_map_is_taken_from_the_images_pixels_only(image_size):
    rng = np.random.default_rng(1)
    scores = rng.integers(-3, 4, size=(21, 64, 64)).astype(np.float32)  # ties, as above
    placement = place(image_size, (64, 64))
    cropped = image_classes(scores, placement)  # a strided view of the logits where the image sits beside padding
    top, left = placement.top, placement.left
    want = scores.argmax(axis=0)[top : top + placement.height, left : left + placement.width]
    np.testing.assert_array_equal(cropped, want)
    np.testing.assert_array_equal(postprocess(scores, placement), to_image_size(want.astype(np.uint8), placement))
