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


def instruction_sets(cpuinfo: str | None = None) -> list[str] | None:
    """The named instruction sets that decide a CPU's speed in FP32, INT8 and BF16 inference (runtime/cpu.py),
    from /proc/cpuinfo's text (this machine's by default); None where there is no such file (not Linux). Without
    VNNI an 8-bit multiply-add takes three AVX2 instructions where FP32 takes one FMA, so INT8 gains little; AMX
    adds INT8 and BF16 matrix tiles."""
    from edgeseg.runtime.cpu import cpu_facts, parse_cpuinfo

    facts = cpu_facts() if cpuinfo is None else parse_cpuinfo(cpuinfo)
    return facts.instruction_sets if facts.flags else None


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
        "cpu": cpu_facts().model or platform.machine(),
        "instruction_sets": instruction_sets(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "gpu": gpu_name(),
    }


def describe_cpu(info: dict[str, Any]) -> str:
    """ "AMD EPYC (AVX2; no AVX-512, VNNI or AMX)": the CPU and what it has of the instruction sets that decide
    INT8 and BF16 speed. Results recorded before the instruction sets were give the name alone."""
    if "instruction_sets" not in info:
        return str(info["cpu"])
    sets = info["instruction_sets"]
    if sets is None:
        return f"{info['cpu']} (instruction sets not readable here)"
    lacking = [
        name
        for name, present in (
            ("AVX2", "AVX2" in sets),
            ("AVX-512", "AVX-512" in sets),
            ("VNNI", any("VNNI" in s for s in sets)),
            ("AMX", "AMX" in sets),
        )
        if not present
    ]
    has = ", ".join(sets) or "none of AVX2, AVX-512, VNNI, AMX"
    if not lacking or not sets:
        return f"{info['cpu']} ({has})"
    missing = lacking[0] if len(lacking) == 1 else f"{', '.join(lacking[:-1])} or {lacking[-1]}"
    return f"{info['cpu']} ({has}; no {missing})"


def describe_machine(info: dict[str, Any]) -> str:
    text = f"{describe_cpu(info)}, {info['cores']} cores, {info['os']}"
    return text + (f", {info['gpu']}" if info.get("gpu") else ", no GPU")
