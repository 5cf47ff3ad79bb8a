"""Inference backends, one per file, behind `Backend`; `open_model` picks one by file type."""

from __future__ import annotations

from pathlib import Path

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.backends.providers import check_provider, default_onnx_provider, openvino_device

ENGINE_SUFFIXES = (".engine", ".plan")


def open_model(
    path: str | Path,
    provider: str | None = None,
    threads: int | None = None,
    spin: bool = True,
    precision: str | None = None,
) -> Backend:
    """The backend for `path` (TensorRT .engine/.plan; .onnx on ONNX Runtime or OpenVINO; PyTorch .pt); its
    `metadata` attribute is the model's `ModelMetadata`, read from the artifact and checked against the network.

    provider: for .onnx files, an ONNX Runtime provider (tensorrt, cuda, cpu) or openvino[:DEVICE]; None: the
        default choice (`edgeseg.runtime.backends.providers`). threads: CPU threads of either. spin: ONNX Runtime's
        (see `OnnxRuntimeBackend`). precision: OpenVINO's precision hint (f32, bf16, f16; None: the device's own).
    """
    path = Path(path)
    if not path.is_file():
        raise EdgesegError(f"model not found: {path}")
    check_provider(provider, precision)
    suffix = path.suffix.lower()
    if suffix != ".onnx" and (openvino_device(provider) or precision):
        option = "--precision" if precision else f"--provider {provider}"
        raise EdgesegError(f"{option} is for .onnx files (OpenVINO); {path.name} is not one")
    if suffix in ENGINE_SUFFIXES:
        from edgeseg.runtime.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(path)
    if suffix == ".onnx":
        chosen = provider or default_onnx_provider()
        device = openvino_device(chosen)
        if device is not None:
            from edgeseg.runtime.backends.openvino import OpenVinoBackend

            return OpenVinoBackend(path, device=device, precision=precision, threads=threads)
        if precision is not None:
            raise EdgesegError(
                f"--precision is OpenVINO's precision hint, and {path.name} runs on ONNX Runtime here: "
                f"add --provider openvino"
            )
        from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, provider=chosen, threads=threads, spin=spin)
    if suffix in (".pt", ".pth"):
        from edgeseg.runtime.backends.pytorch import PyTorchBackend

        return PyTorchBackend(path)
    raise EdgesegError(f"--model must be a .engine/.plan, .onnx or .pt file, got {path.name}")


__all__ = ["Backend", "open_model"]
