"""A model plus its metadata as three steps: prepare a frame, infer, finish into a class mask."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeseg.errors import require
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.preprocess import Placement, postprocess, preprocess_for

cv2 = require("cv2", extra="cv")


class Segmenter:
    """`segmenter(frame_bgr) -> mask`, or the three steps separately so a pipeline can overlap them."""

    def __init__(self, backend: Backend, metadata: dict[str, Any]) -> None:
        self.backend, self.metadata = backend, metadata
        self.input_name, self.output_name = backend.input_names[0], backend.output_names[0]

    def prepare(self, frame: np.ndarray) -> tuple[np.ndarray, Placement]:
        return preprocess_for(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), self.metadata)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self.backend.infer({self.input_name: tensor})[self.output_name][0]

    @staticmethod
    def finish(logits: np.ndarray, placement: Placement) -> np.ndarray:
        return postprocess(logits, placement)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        tensor, placement = self.prepare(frame)
        return self.finish(self.infer(tensor), placement)
