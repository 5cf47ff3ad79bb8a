"""How sure the network is of each pixel: the top class's softmax probability, at the network's resolution and
at the image's.

From logits it is computed on the host, where only the largest probability is needed: softmax's top value is
1 / Σ_c exp(l_c − max_c l), numerically stable (no exponent is positive) and without dividing every class's
exponential. A class-map export made with `edgeseg export --confidence` computes the same in the graph and
returns it beside the class map. Either way it is brought to the image's size like the class mask (the
letterbox cropped, then resized), bilinearly, since it is a continuous value.
"""

from __future__ import annotations

import numpy as np

from edgeseg.errors import require
from edgeseg.runtime.preprocess import Placement

cv2 = require("cv2", extra="cv")


def top_probability(logits: np.ndarray) -> np.ndarray:
    """C×h×w logits → h×w float32 probability of the top class, in (0, 1].

    Plane by plane into two h×w buffers: no C×h×w temporary, which at 21 classes and 512² would be 22 MB
    written and read again for every frame. OpenCV's SIMD exp and arithmetic take about 0.4× numpy's time here.
    """
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    top = logits.max(axis=0)
    total = np.zeros_like(top)
    scratch = np.empty_like(top)
    for plane in logits:
        cv2.subtract(plane, top, scratch)
        cv2.exp(scratch, scratch)
        cv2.add(total, scratch, total)
    return np.reciprocal(total, out=total)  # total ≥ 1: the top class contributes exp(0)


def confidence_at_image(confidence: np.ndarray, placement: Placement) -> np.ndarray:
    """h×w confidence at the network's resolution → float32 at the image's size, the letterbox cropped."""
    top, left = placement.top, placement.left
    cropped = np.asarray(confidence, dtype=np.float32)[top : top + placement.height, left : left + placement.width]
    height, width = placement.image_size
    if cropped.shape == (height, width):
        return np.ascontiguousarray(cropped)
    resized = cv2.resize(cropped, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(resized, 0.0, 1.0, out=resized)
