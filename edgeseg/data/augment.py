"""Training augmentation on numpy/OpenCV, applied to an image and its label together.

Every geometric step moves image and label with the same transform (label: nearest neighbour,
filled with 255 = ignore); photometric steps touch the image only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeseg.data.voc import IGNORE_INDEX
from edgeseg.errors import require
from edgeseg.runtime.preprocess import NEAREST, PAD_GRAY

cv2 = require("cv2", extra="cv")


@dataclass(frozen=True)
class AugmentConfig:
    scale: tuple[float, float] = (0.5, 2.0)  # relative to the letterbox fit of the image in the crop
    aspect_jitter: float = 0.2  # the aspect ratio may change by up to ±20 %
    flip: float = 0.5  # probability of a horizontal flip
    rotate: float = 10.0  # degrees, uniform in ±rotate
    hue: float = 0.03  # HSV jitter, as fractions of the range (hue) or gains (saturation, value)
    saturation: float = 0.4
    value: float = 0.3


DEFAULT_AUGMENT = AugmentConfig()


def augment(
    image: np.ndarray,
    label: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    config: AugmentConfig = DEFAULT_AUGMENT,
) -> tuple[np.ndarray, np.ndarray]:
    """Random scale, pad/crop to `size` (H, W), flip, rotate and HSV-jitter an RGB image and its label."""
    out_h, out_w = size
    fit = min(out_h / image.shape[0], out_w / image.shape[1])
    scale = fit * rng.uniform(*config.scale)
    aspect = rng.uniform(1 - config.aspect_jitter, 1 + config.aspect_jitter)
    new_w = max(1, round(image.shape[1] * scale * aspect))
    new_h = max(1, round(image.shape[0] * scale))
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    label = cv2.resize(label, (new_w, new_h), interpolation=NEAREST)

    # Pad to at least the crop size (at a random offset), then crop a random window.
    pad_h, pad_w = max(out_h - new_h, 0), max(out_w - new_w, 0)
    top, left = int(rng.integers(0, pad_h + 1)), int(rng.integers(0, pad_w + 1))
    border = (top, pad_h - top, left, pad_w - left)
    image = cv2.copyMakeBorder(image, *border, cv2.BORDER_CONSTANT, value=(PAD_GRAY,) * 3)
    label = cv2.copyMakeBorder(label, *border, cv2.BORDER_CONSTANT, value=IGNORE_INDEX)
    y0 = int(rng.integers(0, image.shape[0] - out_h + 1))
    x0 = int(rng.integers(0, image.shape[1] - out_w + 1))
    image, label = image[y0 : y0 + out_h, x0 : x0 + out_w], label[y0 : y0 + out_h, x0 : x0 + out_w]

    if rng.random() < config.flip:
        image, label = image[:, ::-1], label[:, ::-1]
    if config.rotate:
        matrix = cv2.getRotationMatrix2D((out_w / 2, out_h / 2), rng.uniform(-config.rotate, config.rotate), 1.0)
        # warpAffine's default border is constant: gray for the image, ignore for the label.
        image = cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=(PAD_GRAY,) * 3)
        label = cv2.warpAffine(label, matrix, (out_w, out_h), flags=cv2.INTER_NEAREST, borderValue=IGNORE_INDEX)
    return hsv_jitter(np.ascontiguousarray(image), rng, config), np.ascontiguousarray(label)


def hsv_jitter(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Shift hue and scale saturation and value by random gains, through lookup tables."""
    gains = rng.uniform(-1, 1, 3) * (config.hue, config.saturation, config.value) + (0, 1, 1)
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_hue = ((x + gains[0] * 180) % 180).astype(np.uint8)
    lut_sat = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
