"""A complete `ModelMetadata` for tests whose model is not a real network (test doubles, hand-made graphs)."""

from __future__ import annotations

from collections.abc import Sequence

from edgeseg.runtime.metadata import ModelMetadata


def small_metadata(class_names: Sequence[str] = ("a", "b"), size: int = 8) -> ModelMetadata:
    """`class_names` at size×size input, letterboxed, normalized with mean = std = 0.5."""
    return ModelMetadata(
        model="small",
        model_config={},
        class_names=list(class_names),
        palette=[[0, 0, 0], *([[255, 0, 0]] * (len(class_names) - 1))],
        input_size=[size, size],
        mean=[0.5] * 3,
        std=[0.5] * 3,
        resize="letterbox",
        upsample="bilinear",
    )
