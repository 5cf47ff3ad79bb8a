"""Augmentation moves image and label together."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.data.augment import AugmentConfig, augment
from edgeseg.runtime.palette import voc_palette

PALETTE = voc_palette(8).astype(np.int32)
GEOMETRY_ONLY = AugmentConfig(hue=0, saturation=0, value=0)


def blocky_scene() -> tuple[np.ndarray, np.ndarray]:
    """An asymmetric label of large blocks, and an image whose colour at each pixel names its class."""
    label = np.zeros((90, 120), np.uint8)
    label[10:60, 5:40] = 1
    label[30:85, 70:115] = 2
    label[5:25, 80:118] = 3
    return PALETTE[label].astype(np.uint8), label


def agreement(image: np.ndarray, label: np.ndarray) -> float:
    """Share of labelled pixels whose colour is nearest to their own class's colour."""
    valid = label != 255
    distances = np.linalg.norm(image[valid][:, None, :].astype(np.int32) - PALETTE[None, :4], axis=2)
    return float((distances.argmin(1) == label[valid]).mean())


@pytest.mark.parametrize("seed", range(12))
def test_image_and_label_stay_aligned(seed):
    image, label = blocky_scene()
    out_image, out_label = augment(image, label, (64, 80), np.random.default_rng(seed), GEOMETRY_ONLY)
    assert out_image.shape == (64, 80, 3) and out_image.dtype == np.uint8
    assert out_label.shape == (64, 80) and out_label.dtype == np.uint8
    assert agreement(out_image, out_label) > 0.97


def test_the_alignment_check_catches_a_flip_of_one_only():
    image, label = blocky_scene()
    assert agreement(image, label) == 1.0
    assert agreement(image[:, ::-1], label) < 0.8


def test_flip_and_rotation_really_happen():
    image, label = blocky_scene()
    config = AugmentConfig(scale=(1.0, 1.0), aspect_jitter=0, flip=1.0, rotate=0, hue=0, saturation=0, value=0)
    out_image, out_label = augment(image, label, (90, 120), np.random.default_rng(0), config)
    assert np.array_equal(out_label, label[:, ::-1])
    assert np.array_equal(out_image, image[:, ::-1])


def test_padding_is_ignore_and_labels_keep_their_values():
    image, label = blocky_scene()
    config = AugmentConfig(scale=(0.5, 0.5), aspect_jitter=0)
    _, out_label = augment(image, label, (90, 120), np.random.default_rng(3), config)
    assert (out_label == 255).mean() > 0.5  # a half-size image leaves most of the crop as padding
    assert set(np.unique(out_label)) <= {0, 1, 2, 3, 255}


def test_colour_jitter_changes_the_image_not_the_label():
    image, label = blocky_scene()
    config = AugmentConfig(scale=(1.0, 1.0), aspect_jitter=0, flip=0, rotate=0, hue=0.2, saturation=0.5, value=0.5)
    out_image, out_label = augment(image, label, (90, 120), np.random.default_rng(5), config)
    assert np.array_equal(out_label, label)
    assert not np.array_equal(out_image, image)


def test_same_seed_same_result():
    image, label = blocky_scene()
    a = augment(image, label, (64, 64), np.random.default_rng(9))
    b = augment(image, label, (64, 64), np.random.default_rng(9))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
