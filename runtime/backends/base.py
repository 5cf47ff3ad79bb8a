"""The small interface every inference backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from edgeseg.runtime.metadata import ModelMetadata


class Backend(ABC):
    """Runs one model. Use as a context manager so device memory is freed when done.

    input_names / output_names: the model's tensor names, in order.
    metadata: what the artifact records about the model (classes, palette, input size, …), read and checked
        against the network's outputs when the backend opens it.
    """

    input_names: list[str]
    output_names: list[str]
    metadata: ModelMetadata

    @abstractmethod
    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on named inputs; returns named outputs (host arrays the caller may keep)."""

    @property
    def max_batch(self) -> int | None:
        """The most images one call takes (None: any number); 1 for a model exported without --dynamic-batch."""
        return 1

    @property
    def settings(self) -> dict[str, Any]:
        """How this backend runs the model (library, device, precision), as `--stats-json` and the bench record it."""
        return {"backend": type(self).__name__}

    def close(self) -> None:  # noqa: B027  (a default that backends holding nothing need not override)
        """Free what the backend holds (sessions, device buffers, streams)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
