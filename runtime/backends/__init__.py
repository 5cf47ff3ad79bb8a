"""Inference backends, one per file, behind `Backend`; `open_model` picks one by file type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.base import Backend

ENGINE_SUFFIXES = (".engine", ".plan")


def open_model(
    path: str | Path, provider: str | None = None, threads: int | None = None, spin: bool = True
) -> tuple[Backend, dict[str, Any]]:
    """The backend for `path` (TensorRT .engine/.plan, ONNX Runtime .onnx, PyTorch .pt) and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise EdgesegError(f"model not found: {path}")
    suffix = path.suffix.lower()
    if suffix in ENGINE_SUFFIXES:
        from edgeseg.runtime.backends.tensorrt import TensorRTBackend

        backend = TensorRTBackend(path)
        return backend, backend.sidecar
    if suffix == ".onnx":
        from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
        from edgeseg.runtime.metadata import check_outputs, from_onnx_props, output_classes

        backend = OnnxRuntimeBackend(path, provider=provider, threads=threads, spin=spin)
        try:
            meta = from_onnx_props(backend.custom_metadata, str(path))
            check_outputs(meta, output_classes(backend.output_shape), str(path))
            return backend, meta
        except EdgesegError:
            backend.close()
            raise
    if suffix in (".pt", ".pth"):
        from edgeseg.runtime.backends.pytorch import PyTorchBackend

        backend = PyTorchBackend(path)
        return backend, backend.metadata
    raise EdgesegError(f"--model must be a .engine/.plan, .onnx or .pt file, got {path.name}")


__all__ = ["Backend", "open_model"]
