"""Pre- and post-processing in numpy: the one implementation training's evaluation and the runtime share.

docs/architecture.md, rule 3: an image becomes a network input only through `preprocess`, and network output
becomes a mask at the image's size only through `postprocess`, whether in `edgeseg eval`, the
validation of `edgeseg train`, or `edgeseg run` on a Jetson.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeseg.errors import require
from edgeseg.runtime.metadata import RESIZE_MODES, ModelMetadata

cv2 = require("cv2", extra="cv")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# OpenCV's INTER_NEAREST samples half a pixel off INTER_LINEAR's grid, which shifts class maps
# against their images when downscaling; NEAREST_EXACT (OpenCV ≥ 4.5) uses the same pixel centres.
NEAREST = getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST)
PAD_GRAY = 128  # letterbox padding: mid-gray, which normalizes to about zero


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
    resized = cv2.resize(array, (placement.width, placement.height), interpolation=interpolation)
    resized = resized.reshape(placement.height, placement.width, *array.shape[2:])
    (height, width), top, left = placement.input_size, placement.top, placement.left
    if (placement.height, placement.width) == (height, width):
        return resized
    if array.ndim == 3 and array.shape[2] <= 4:  # one C++ pass pads and copies
        bottom, right = height - top - placement.height, width - left - placement.width
        border = (fill,) * array.shape[2]
        return cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=border)
    canvas = np.full((height, width, *array.shape[2:]), fill, dtype=array.dtype)
    canvas[top : top + placement.height, left : left + placement.width] = resized
    return canvas


def normalize(image: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...], *, bgr: bool = False) -> np.ndarray:
    """uint8 H×W×3 RGB (or BGR with bgr=True) → float32 3×H×W RGB, (x/255 - mean) / std.

    Plane by plane, in place: numpy's broadcast of a 3-vector over the last axis of an H×W×3 float
    array runs an inner loop of length 3 (tens of ms at 512²); whole planes take well under 1 ms.
    """
    std_ = np.asarray(std, dtype=np.float32)
    scale, shift = np.float32(1 / 255) / std_, np.asarray(mean, dtype=np.float32) / std_
    planes = cv2.split(image)
    if bgr:
        planes = planes[::-1]
    out = np.empty((3, *image.shape[:2]), np.float32)
    for channel, plane in enumerate(planes):
        out[channel] = plane  # uint8 → float32
        out[channel] *= scale[channel]
        out[channel] -= shift[channel]
    return out


def interpolation_for(placement: Placement) -> int:
    """Bilinear down to half size (as training's augmentation resizes), area averaging below it.

    A bilinear resize reads 2×2 pixels per output pixel, which covers the input at scales ≥ ½; below,
    it skips pixels and aliases, and INTER_AREA's averaging is worth its cost. Between ½ and 1,
    INTER_AREA's non-integer-ratio path takes several times as long for no visible gain, and
    640×480 → 512×384 is the camera-to-network step every frame pays.
    """
    return cv2.INTER_AREA if placement.height < placement.image_size[0] / 2 else cv2.INTER_LINEAR


def preprocess(
    image: np.ndarray,
    input_size: tuple[int, int],
    *,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    mode: str = "letterbox",
    bgr: bool = False,
) -> tuple[np.ndarray, Placement]:
    """An RGB uint8 H×W×3 image → a float32 1×3×h×w network input, and where the image sits in it.

    bgr: the image is BGR (an OpenCV frame); the channels are swapped while normalizing, for free.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"preprocess takes an RGB uint8 H×W×3 image, got {image.dtype} {image.shape}")
    placement = place(image.shape[:2], input_size, mode)
    placed = fit(image, placement, PAD_GRAY, interpolation_for(placement))
    return normalize(placed, mean, std, bgr=bgr)[None], placement


def preprocess_for(image: np.ndarray, meta: ModelMetadata, bgr: bool = False) -> tuple[np.ndarray, Placement]:
    """`preprocess` with the input size, mean/std, resize mode and channel order an artifact's metadata records.

    bgr: the image is BGR (an OpenCV frame). The channels are swapped only where the image's order differs from
    the network's (`meta.channels`): a BGR frame goes as it is into a model imported with --bgr.
    """
    swap = bgr != (meta.channels == "bgr")
    return preprocess(
        image, tuple(meta.input_size), mean=tuple(meta.mean), std=tuple(meta.std), mode=meta.resize, bgr=swap
    )


def class_indices(scores: np.ndarray, top: np.ndarray | None = None) -> np.ndarray:
    """C×h×w scores → h×w uint8 index of the largest, the lowest index on ties (as numpy's argmax).

    Plane by plane with OpenCV: numpy's argmax over the first axis walks across planes for every pixel and takes
    5.3 ms at 21×256² on one core, this 0.8 ms. Each plane that beats the running maximum writes its index with a
    max, which is right because the indices only grow. top: an h×w float32 array that receives that running
    maximum, each pixel's largest score (the confidence needs it too, and need not take it again).
    """
    if scores.shape[0] > 256:  # more classes than a uint8 class map holds: numpy's argmax, as before
        if top is not None:
            np.max(scores, axis=0, out=top)
        return scores.argmax(axis=0).astype(np.uint8)
    scores = np.asarray(scores, dtype=np.float32)  # a cropped view stays one: OpenCV takes strided rows
    if top is None:
        top = scores[0].copy()
    else:
        np.copyto(top, scores[0])
    classes = np.zeros(top.shape, np.uint8)
    greater = np.empty(top.shape, np.uint8)
    for index in range(1, scores.shape[0]):
        cv2.compare(scores[index], top, cv2.CMP_GT, greater)  # 255 where this class leads so far, else 0
        cv2.max(classes, cv2.bitwise_and(greater, index), classes)
        cv2.max(top, scores[index], top)
    return classes


def image_pixels(array: np.ndarray, placement: Placement) -> np.ndarray:
    """The part of a network-resolution array (…×h×w) that holds the image, the letterbox cut off: a view."""
    top, left = placement.top, placement.left
    return array[..., top : top + placement.height, left : left + placement.width]


def image_classes(logits: np.ndarray, placement: Placement, top: np.ndarray | None = None) -> np.ndarray:
    """C×h×w logits (or an h×w class map) → uint8 class map at the network's resolution, the letterbox cut off.

    Cropped first: a 4:3 frame in a square input leaves a quarter of the network's pixels to padding, and the
    argmax of logits (0.8 ms at 21×256² on one core) need not look at them. top: as for `class_indices`.
    """
    cropped = image_pixels(logits, placement)
    return cropped.astype(np.uint8) if logits.ndim == 2 else class_indices(cropped, top)


def to_image_size(classes: np.ndarray, placement: Placement) -> np.ndarray:
    """`image_classes`' map → the original image's size, nearest neighbour (class indices do not blend)."""
    height, width = placement.image_size
    return cv2.resize(classes, (width, height), interpolation=NEAREST)


def postprocess(logits: np.ndarray, placement: Placement) -> np.ndarray:
    """C×h×w logits (or an h×w class map) → uint8 class map at the original image size.

    Argmax first, at the network's resolution (cheap: one byte per pixel to resize, not C floats),
    then the class map resized with nearest neighbour.
    """
    return to_image_size(image_classes(logits, placement), placement)
