"""edgeseg: semantic segmentation from PyTorch training to a live camera on an NVIDIA Jetson."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeseg.api import Model

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it from here)


def load(
    path: str | Path, *, provider: str | None = None, threads: int | None = None, precision: str | None = None
) -> Model:
    """Open a model for inference: `seg = edgeseg.load("model.onnx")`, then `mask = seg(image_bgr)`.

    Takes a TensorRT `.engine`, an ONNX `.onnx` (ONNX Runtime or OpenVINO) or a PyTorch `.pt` checkpoint; see
    `edgeseg.api.load` for provider ("cpu", "openvino:GPU", …), threads and precision (OpenVINO's hint).
    Imported on first use, so `import edgeseg` stays light and only a .pt file needs torch.
    """
    from edgeseg.api import load as load_model

    return load_model(path, provider=provider, threads=threads, precision=precision)
