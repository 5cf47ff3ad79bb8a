"""Pre- and post-processing in numpy: the one implementation training's evaluation and the runtime share.

DESIGN.md rule 3: an image becomes a network input only through `preprocess`, and network output
becomes a mask at the image's size only through `postprocess`, whether in `edgeseg eval`, the
validation of `edgeseg train`, or `edgeseg run` on a Jetson.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeseg.errors import require

cv2 = require("cv2", extra="cv")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# OpenCV's INTER_NEAREST samples half a pixel off INTER_LINEAR's grid, which shifts class maps
# against their images when downscaling; NEAREST_EXACT (OpenCV ≥ 4.5) uses the same pixel centres.
NEAREST = getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST)
PAD_GRAY = 128  # letterbox padding: mid-gray, which normalizes to about zero
RESIZE_MODES = ("letterbox", "resize")


@dataclass(frozen=True)
class Placement:
    """Where the image sits in the network input: scaled to (height, width) at (top, left)."""

    image_size: tuple[int, int]  # original (H, W)
    input_size: tuple[int, int]  # network (h, w)
    top: int
    left: int
    height: int
    width: int


def place(image_size: tuple[int, int], input_size: tuple[int, int], mode: str = "letterbox") -> Placement:
    """Letterbox (keep aspect ratio, pad centrally) or plain resize of image_size into input_size."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, got {mode!r}")
    (ih, iw), (nh, nw) = image_size, input_size
    if mode == "resize":
        return Placement(image_size, input_size, 0, 0, nh, nw)
    scale = min(nh / ih, nw / iw)
    height, width = max(1, round(ih * scale)), max(1, round(iw * scale))
    return Placement(image_size, input_size, (nh - height) // 2, (nw - width) // 2, height, width)


def fit(array: np.ndarray, placement: Placement, fill: int, interpolation: int) -> np.ndarray:
    """Scale `array` (H×W or H×W×C) into its placement on a canvas of the input size filled with `fill`."""
    canvas = np.full((*placement.input_size, *array.shape[2:]), fill, dtype=array.dtype)
    resized = cv2.resize(array, (placement.width, placement.height), interpolation=interpolation)
    canvas[placement.top : placement.top + placement.height, placement.left : placement.left + placement.width] = (
        resized.reshape(placement.height, placement.width, *array.shape[2:])
    )
    return canvas


def normalize(image: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """uint8 H×W×3 RGB → float32 3×H×W, (x/255 - mean) / std."""
    scale = np.float32(1 / 255) / np.asarray(std, dtype=np.float32)
    shift = np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)
    return (image.astype(np.float32) * scale - shift).transpose(2, 0, 1)


def preprocess(
    image: np.ndarray,
    input_size: tuple[int, int],
    *,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    mode: str = "letterbox",
) -> tuple[np.ndarray, Placement]:
    """An RGB uint8 H×W×3 image → a float32 1×3×h×w network input, and where the image sits in it."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"preprocess takes an RGB uint8 H×W×3 image, got {image.dtype} {image.shape}")
    placement = place(image.shape[:2], input_size, mode)
    interpolation = cv2.INTER_AREA if placement.height < image.shape[0] else cv2.INTER_LINEAR
    placed = fit(image, placement, PAD_GRAY, interpolation)
    return normalize(placed, mean, std)[None], placement


def preprocess_for(image: np.ndarray, meta: dict) -> tuple[np.ndarray, Placement]:
    """`preprocess` with the input size, mean/std and resize mode an artifact's metadata records."""
    return preprocess(
        image, tuple(meta["input_size"]), mean=tuple(meta["mean"]), std=tuple(meta["std"]), mode=meta["resize"]
    )


def postprocess(logits: np.ndarray, placement: Placement) -> np.ndarray:
    """C×h×w logits (or an h×w class map) → uint8 class map at the original image size.

    Argmax first, at the network's resolution (cheap: one byte per pixel to resize, not C floats),
    then crop the letterbox padding and resize the class map with nearest neighbour.
    """
    classes = logits if logits.ndim == 2 else logits.argmax(axis=0)
    classes = classes.astype(np.uint8)
    top, left = placement.top, placement.left
    cropped = classes[top : top + placement.height, left : left + placement.width]
    height, width = placement.image_size
    return cv2.resize(cropped, (width, height), interpolation=NEAREST)
