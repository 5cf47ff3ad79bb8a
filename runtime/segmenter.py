"""A model plus its metadata as three steps: prepare a frame, infer, finish into a class mask (and confidence).

The network returns logits (C×h×w) or, exported with the argmax in the graph, a class map (h×w int32),
optionally with the top class's probability beside it (`edgeseg export --confidence`); the metadata says
which, and `finish` takes either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.confidence import ConfidenceMap, top_probability
from edgeseg.runtime.metadata import CONFIDENCE_NAME, OUTPUT_NAMES
from edgeseg.runtime.preprocess import (
    Placement,
    class_indices,
    image_classes,
    image_pixels,
    postprocess,
    preprocess_for,
    to_image_size,
)


@dataclass(frozen=True)
class NetworkOutput:
    """What the network returned for one image."""

    scores: np.ndarray  # logits C×h×w, or the class map h×w of an in-graph argmax
    confidence: np.ndarray | None = None  # h×w top-class probability, where the graph computes it


class NoConfidence(EdgesegError):
    """The model returns class indices only, so no confidence can be had from it."""


class Segmenter:
    """`segmenter(frame_bgr) -> mask`, or the three steps separately so a pipeline can overlap them."""

    def __init__(self, backend: Backend) -> None:
        self.backend, self.metadata = backend, backend.metadata
        self.input_name = backend.input_names[0]
        self.output_kind = self.metadata.output
        names = backend.output_names
        # By name, not position: an engine may list its outputs in another order than the ONNX graph did.
        wanted = OUTPUT_NAMES.get(self.output_kind)  # a file made by another tool (`edgeseg import`): its own name
        self.output_name = wanted if wanted in names else names[0]
        self.confidence_name = CONFIDENCE_NAME if self.metadata.confidence and CONFIDENCE_NAME in names else None
        self._rank = 2 if self.output_kind == "classes" else 3  # per image, after the batch axis
        self._batch: np.ndarray | None = None

    @property
    def has_confidence(self) -> bool:
        """Whether `confidence` can answer: the network returns scores (logits or probabilities), or its own
        confidence output."""
        return self.output_kind in ("logits", "probs") or self.confidence_name is not None

    def require_confidence(self) -> None:
        """Raise NoConfidence, saying how to get one, where this model cannot give a confidence."""
        if not self.has_confidence:
            raise NoConfidence(
                "this model returns class indices only (the argmax is in its graph), so it has no confidence; "
                "export it again with `edgeseg export CHECKPOINT --confidence` (or --output logits)"
            )

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
        return self.infer_outputs(tensor).scores

    def infer_outputs(self, tensor: np.ndarray) -> NetworkOutput:
        """Every output the network returns for the first image of `tensor`."""
        return self._outputs(tensor)[0]

    def _outputs(self, batch: np.ndarray) -> list[NetworkOutput]:
        outputs = self.backend.infer({self.input_name: batch})
        scores = outputs[self.output_name]
        confidences = outputs[self.confidence_name] if self.confidence_name else [None] * len(scores)
        return [NetworkOutput(self._checked(s), c) for s, c in zip(scores, confidences)]

    @property
    def max_batch(self) -> int | None:
        """How many images one inference takes (None: any number)."""
        return self.backend.max_batch

    def infer_batch(self, tensors: Sequence[np.ndarray]) -> list[NetworkOutput]:
        """`infer_outputs` for several prepared frames (1×3×h×w each) in one call: one output per frame.

        The frames are copied into one batch buffer, allocated once at the largest batch seen, not per call.
        """
        if len(tensors) == 1:
            return self._outputs(tensors[0])[:1]
        shape = (len(tensors), *tensors[0].shape[1:])
        if self._batch is None or self._batch.shape[0] < shape[0] or self._batch.shape[1:] != shape[1:]:
            self._batch = np.empty(shape, tensors[0].dtype)
        batch = self._batch[: shape[0]]
        for row, tensor in zip(batch, tensors):
            row[...] = tensor[0]
        return self._outputs(batch)

    @staticmethod
    def class_map(output: np.ndarray) -> np.ndarray:
        """h×w class indices at the network's resolution, from logits or from an in-graph argmax."""
        return output if output.ndim == 2 else class_indices(output)

    @staticmethod
    def finish(output: np.ndarray, placement: Placement) -> np.ndarray:
        return postprocess(output, placement)

    def finish_with_confidence(self, output: NetworkOutput, placement: Placement) -> tuple[np.ndarray, ConfidenceMap]:
        """`finish`'s class mask, and the confidence over the same pixels (at the image's size when asked).

        From scores, the argmax's running maximum is the confidence's largest score: taken once, not twice."""
        scores = output.scores
        top = np.empty((placement.height, placement.width), np.float32) if scores.ndim == 3 else None
        classes = image_classes(scores, placement, top)
        confidence = ConfidenceMap(self._confidence(output, placement, top), placement.image_size, classes)
        return to_image_size(classes, placement), confidence

    def confidence(self, output: NetworkOutput, placement: Placement) -> np.ndarray:
        """The top class's probability per pixel, float32 in [0, 1] at the image's size.

        Computed at the network's resolution (from logits on the host, or the graph's own output) and then
        resized: a 512² map is cheaper than a full-HD one. Raises NoConfidence for a class map without it.
        """
        return ConfidenceMap(self._confidence(output, placement), placement.image_size).at_image()

    def _confidence(self, output: NetworkOutput, placement: Placement, top: np.ndarray | None = None) -> np.ndarray:
        """The confidence over the network's pixels that hold the image (the letterbox never computed).
        top: each of those pixels' largest score, where the class map's argmax took it already."""
        if output.confidence is not None:
            return image_pixels(output.confidence, placement)
        self.require_confidence()
        scores = image_pixels(output.scores, placement)
        if self.output_kind == "probs":  # the graph's softmax already: its top value is the confidence
            return top if top is not None else scores.max(axis=0)
        return top_probability(scores, top)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        tensor, placement = self.prepare(frame)
        return self.finish(self.infer(tensor), placement)
