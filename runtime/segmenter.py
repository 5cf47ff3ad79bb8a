"""A model plus its metadata as three steps: prepare a frame, infer, finish into a class mask.

The network returns logits (C×h×w) or, exported with the argmax in the graph, a class map (h×w int32);
the metadata says which, and `finish` takes either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.preprocess import Placement, postprocess, preprocess_for


class Segmenter:
    """`segmenter(frame_bgr) -> mask`, or the three steps separately so a pipeline can overlap them."""

    def __init__(self, backend: Backend) -> None:
        self.backend, self.metadata = backend, backend.metadata
        self.input_name, self.output_name = backend.input_names[0], backend.output_names[0]
        self.output_kind = self.metadata.output
        self._rank = 2 if self.output_kind == "classes" else 3  # per image, after the batch axis
        self._batch: np.ndarray | None = None

    def _checked(self, output: np.ndarray) -> np.ndarray:
        if output.ndim != self._rank:
            raise EdgesegError(
                f"the model returned a {output.ndim}-D {output.dtype} array per image, but its metadata says "
                f"{self.output_kind} ({self._rank}-D); re-export it with `edgeseg export`"
            )
        return output

    def prepare(self, frame: np.ndarray) -> tuple[np.ndarray, Placement]:
        return preprocess_for(frame, self.metadata, bgr=True)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Logits C×h×w or a class map h×w, as the metadata says."""
        return self._checked(self.backend.infer({self.input_name: tensor})[self.output_name][0])

    @property
    def max_batch(self) -> int | None:
        """How many images one inference takes (None: any number)."""
        return self.backend.max_batch

    def infer_batch(self, tensors: Sequence[np.ndarray]) -> list[np.ndarray]:
        """`infer` for several prepared frames (1×3×h×w each) in one call: one output per frame.

        The frames are copied into one batch buffer, allocated once at the largest batch seen, not per call.
        """
        if len(tensors) == 1:
            return [self.infer(tensors[0])]
        shape = (len(tensors), *tensors[0].shape[1:])
        if self._batch is None or self._batch.shape[0] < shape[0] or self._batch.shape[1:] != shape[1:]:
            self._batch = np.empty(shape, tensors[0].dtype)
        batch = self._batch[: shape[0]]
        for row, tensor in zip(batch, tensors):
            row[...] = tensor[0]
        outputs = self.backend.infer({self.input_name: batch})[self.output_name]
        return [self._checked(output) for output in outputs]

    @staticmethod
    def class_map(output: np.ndarray) -> np.ndarray:
        """h×w class indices at the network's resolution, from logits or from an in-graph argmax."""
        return output if output.ndim == 2 else output.argmax(0)

    @staticmethod
    def finish(output: np.ndarray, placement: Placement) -> np.ndarray:
        return postprocess(output, placement)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        tensor, placement = self.prepare(frame)
        return self.finish(self.infer(tensor), placement)
