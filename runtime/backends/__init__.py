"""Inference backends, one per file, behind `Backend`; `open_model` picks one by file type."""

from __future__ import annotations

from pathlib import Path

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.base import Backend

ENGINE_SUFFIXES = (".engine", ".plan")


def open_model(path: str | Path, provider: str | None = None, threads: int | None = None, spin: bool = True) -> Backend:
    """The backend for `path` (TensorRT .engine/.plan, ONNX Runtime .onnx, PyTorch .pt); its `metadata`
    attribute is the model's `ModelMetadata`, read from the artifact and checked against the network.

    provider, threads, spin: for ONNX Runtime (see `OnnxRuntimeBackend`).
    """
    path = Path(path)
    if not path.is_file():
        raise EdgesegError(f"model not found: {path}")
    suffix = path.suffix.lower()
    if suffix in ENGINE_SUFFIXES:
        from edgeseg.runtime.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(path)
    if suffix == ".onnx":
        from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, provider=provider, threads=threads, spin=spin)
    if suffix in (".pt", ".pth"):
        from edgeseg.runtime.backends.pytorch import PyTorchBackend

        return PyTorchBackend(path)
    raise EdgesegError(f"--model must be a .engine/.plan, .onnx or .pt file, got {path.name}")


__all__ = ["Backend", "open_model"]
