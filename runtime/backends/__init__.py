"""Inference backends, one per file, behind `Backend`: infer(dict of arrays) -> dict of arrays."""

from edgeseg.runtime.backends.base import Backend

__all__ = ["Backend"]
