"""What a result was measured on: machine, library versions, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "edgeseg", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino", "tensorrt", "opencv-python", "numpy",
)  # fmt: skip


def git_commit(where: Path | None = None) -> str:
    """The short commit of the checkout edgeseg runs from (+dirty with uncommitted changes), or "unknown"."""
    where = where or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=where)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=where)
    except OSError:
        return "unknown"
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name() -> str | None:
    """The first GPU, asked of PyTorch, else of CUDA directly (a CPU PyTorch on a GPU machine sees none)."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        from edgeseg.runtime.cuda import cuda_api

        return cuda_api().device()[0]
    except Exception:  # no cuda-python / PyCUDA, or no device: no GPU to name
        return None


# Import names for packages that can come without pip metadata (JetPack's TensorRT and OpenCV).
_MODULES = {"tensorrt": "tensorrt", "opencv-python": "cv2"}


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            module = _MODULES.get(package)
            if module is None:
                continue
            try:
                found[package] = __import__(module).__version__
            except ImportError:
                continue
    return found


def machine() -> dict[str, Any]:
    from edgeseg.runtime.cpu import cpu_facts

    return {
        "cpu": cpu_name(),
        # The instruction sets OpenVINO's speed depends on (AVX-512 VNNI, AMX): they vary between machines of one kind.
        "cpu_isa": cpu_facts().instruction_sets,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "gpu": gpu_name(),
    }


def describe_machine(info: dict[str, Any]) -> str:
    text = f"{info['cpu']}, {info['cores']} cores, {info['os']}"
    return text + (f", {info['gpu']}" if info.get("gpu") else ", no GPU")
