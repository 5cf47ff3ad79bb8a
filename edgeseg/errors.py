"""User-facing errors: the CLI prints their message as one line and exits non-zero."""

from __future__ import annotations

import importlib
import re
from types import ModuleType


class EdgesegError(Exception):
    """A problem with the user's input or environment, with a message that says what to do."""


class MissingDependencyError(EdgesegError):
    """An optional dependency is not installed."""


def describe(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message.

    torch.load(weights_only=True) puts the useful part of its refusal on a later line; that is kept.
    """
    # "Unsupported global: GLOBAL x" (torch 2.4–2.5) or "unsupported GLOBAL x whose module … is blocked" (later).
    refusal = re.search(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)", str(exc))
    if refusal:
        return f"it holds a pickled {refusal.group(1)}, which weights_only loading refuses: it could run code"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


_VENV = "in a venv made with --system-site-packages"
_NUMPY = "'numpy<2'"  # JetPack's cv2 and tensorrt are built against NumPy 1.x

# On a Jetson: JetPack's own packages, never pip's builds (no GStreamer, no CUDA, or a CUDA its driver lacks).
_JETSON_HINTS = {
    "tensorrt": f"TensorRT's Python bindings come with JetPack: sudo apt-get install python3-libnvinfer, {_VENV}",
    "cv2": f"use JetPack's OpenCV, which has GStreamer: sudo apt-get install nvidia-opencv, {_VENV} "
    "(pip's OpenCV has no GStreamer, so CSI cameras do not open with it)",
    "onnxruntime-gpu": "PyPI has no onnxruntime-gpu for Jetson; build a TensorRT engine instead "
    "(edgeseg export model.onnx) and run model.engine",
    "torch": "train on a desktop; on a Jetson use NVIDIA's PyTorch wheel for this JetPack, not pip's torch",
    "PIL": f"pip install pillow {_NUMPY}",  # for --verify DATA; the train extra installs nothing on JetPack 5
}
_DESKTOP_HINTS = {
    "tensorrt": "pip install tensorrt (Linux or Windows on x86_64 with an NVIDIA GPU and driver)",
    "cuda": "pip install the cuda-python of your driver's CUDA major version (nvidia-smi shows it): "
    "pip install 'cuda-python>=12,<13' for CUDA 12, 'cuda-python>=13,<14' for CUDA 13; or pycuda",
    "onnxruntime-gpu": "pip install 'edgeseg[gpu]' (onnxruntime-gpu replaces onnxruntime)",
}


def install_hint(module: str, extra: str | None = None) -> str:
    """How to install `module` here: every missing-dependency message and `edgeseg doctor` say the same.

    module: a top-level import name ("tensorrt", "cv2", "onnxruntime", …), or "cuda" for a CUDA binding
    (cuda-python or pycuda), or "onnxruntime-gpu". extra: the edgeseg extra that installs it elsewhere.
    """
    from edgeseg.runtime.jetson import jetson_release

    jetson = jetson_release()
    if jetson is None:
        if module in _DESKTOP_HINTS:
            return _DESKTOP_HINTS[module]
        return f"pip install 'edgeseg[{extra}]'" if extra else f"pip install {module}"
    if module in _JETSON_HINTS:
        return _JETSON_HINTS[module]
    if module == "cuda":
        if jetson.cuda == "unknown":
            return "pip install cuda-python of the CUDA version `nvcc --version` shows, or pip install pycuda"
        if int(jetson.cuda.split(".")[0]) >= 12:  # cuda-python follows CUDA's versions from 12 on
            return f"pip install 'cuda-python=={jetson.cuda}.*' (the CUDA of JetPack {jetson.jetpack})"
        # cuda-python has no release for JetPack 5's CUDA 11.4; pycuda builds against the installed CUDA.
        return f"pip install pycuda (it builds against JetPack {jetson.jetpack}'s CUDA {jetson.cuda})"
    if extra:
        return f"pip install 'edgeseg[{extra}]' {_NUMPY}"
    return f"pip install {module} {_NUMPY}"


def require(module: str, extra: str) -> ModuleType:
    """Import an optional heavy dependency, or say how to install it here (docs/architecture.md, rule 5)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        hint = install_hint(top, extra)
        raise MissingDependencyError(f"{top} is not installed ({exc}); install it with: {hint}") from exc
