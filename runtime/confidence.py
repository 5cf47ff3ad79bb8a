"""How sure the network is of each pixel: the top class's softmax probability, at the network's resolution and
at the image's.

From logits it is computed on the host, where only the largest probability is needed: softmax's top value is
1 / Σ_c exp(l_c − max_c l), numerically stable (no exponent is positive) and without dividing every class's
exponential. A class-map export made with `edgeseg export --confidence` computes the same in the graph and
returns it beside the class map. Either way it is brought to the image's size like the class mask (the
letterbox cropped, then resized), bilinearly, since it is a continuous value, by `ConfidenceMap` and only when
something asks for the whole map: most outputs only summarise it, which the network's own pixels do as well.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgeseg.errors import require
from edgeseg.runtime.result import confidence_summary

cv2 = require("cv2", extra="cv")


def top_probability(logits: np.ndarray, top: np.ndarray | None = None) -> np.ndarray:
    """C×h×w logits → h×w float32 probability of the top class, in (0, 1].

    Plane by plane into two h×w buffers: no C×h×w temporary, which at 21 classes and 512² would be 22 MB
    written and read again for every frame. OpenCV's SIMD exp and arithmetic take about 0.4× numpy's time here.
    top: each pixel's largest logit where the caller has it already (`class_indices` gives it).
    """
    logits = np.asarray(logits, dtype=np.float32)  # a cropped view stays one: OpenCV takes strided rows
    if top is None:
        top = logits.max(axis=0)
    total = np.zeros_like(top)
    scratch = np.empty_like(top)
    for plane in logits:
        cv2.subtract(plane, top, scratch)
        cv2.exp(scratch, scratch)
        cv2.add(total, scratch, total)
    return np.reciprocal(total, out=total)  # total ≥ 1: the top class contributes exp(0)


class ConfidenceMap:
    """One frame's confidence over the network's pixels that hold the image; the image's size when asked.

    The run loop hands one to every output of a frame. JSON lines and MQTT only summarise it (`summary`: the
    mean, and per class, over the network's pixels with the class map of those pixels); the map at the image's
    size (`at_image`: a recording, the Python API, 0.24 ms at 640×480 from 256², 1 ms at full HD) is made once,
    by the first output that asks, and never where none does.
    """

    def __init__(self, network: np.ndarray, image_size: tuple[int, int], classes: np.ndarray | None = None) -> None:
        """network: float32, the network's resolution, letterbox cut off (`image_pixels`); classes: the class
        map of the same pixels (`image_classes`), for `summary`."""
        self.network, self.image_size, self.classes = np.asarray(network, np.float32), image_size, classes
        self._image: np.ndarray | None = None
        self._lock = threading.Lock()  # live outputs ask from their own threads

    def at_image(self) -> np.ndarray:
        """float32 H×W in [0, 1], bilinearly resized to the image's size (made once, then shared: read only)."""
        with self._lock:
            if self._image is None:
                height, width = self.image_size
                if self.network.shape == (height, width):
                    self._image = np.ascontiguousarray(self.network)
                else:
                    resized = cv2.resize(self.network, (width, height), interpolation=cv2.INTER_LINEAR)
                    self._image = np.clip(resized, 0.0, 1.0, out=resized)
            return self._image

    def summary(self, class_names: Sequence[str]) -> dict[str, Any]:
        """The JSON record's confidence (docs/outputs.md): its mean, and per class present, over these pixels."""
        if self.classes is None:
            raise ValueError("this ConfidenceMap was made without the class map its summary needs")
        return confidence_summary(self.classes, self.network, class_names)
