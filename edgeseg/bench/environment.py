"""What a result was measured on: machine, library versions, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("edgeseg", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt", "opencv-python", "numpy")


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


CPUINFO = Path("/proc/cpuinfo")
# The instruction sets that decide a CPU's speed in FP32, INT8 and BF16 inference: /proc/cpuinfo's flag → the
# name a report gives it, in the order reports list them. Without VNNI an 8-bit multiply-add takes three AVX2
# instructions where FP32 takes one FMA, so INT8 gains little; AMX adds INT8 and BF16 matrix tiles.
INSTRUCTION_SETS = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_tile": "AMX",
    "amx_int8": "AMX-INT8",
    "amx_bf16": "AMX-BF16",
}


def _cpuinfo() -> str:
    try:
        return CPUINFO.read_text(errors="replace")
    except OSError:
        return ""


def _first(cpuinfo: str, key: str) -> str | None:
    """The first processor's value of `key` in the text of /proc/cpuinfo."""
    for line in cpuinfo.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == key:
            return value.strip()
    return None


def cpu_name(cpuinfo: str | None = None) -> str:
    found = _first(_cpuinfo() if cpuinfo is None else cpuinfo, "model name")
    return found or platform.processor() or platform.machine()


def instruction_sets(cpuinfo: str | None = None) -> list[str] | None:
    """The named instruction sets the CPU offers (INSTRUCTION_SETS), from /proc/cpuinfo's flags (what the CPU
    and the hypervisor let a program use); None where there is no such file to read (not Linux)."""
    flags = _first(_cpuinfo() if cpuinfo is None else cpuinfo, "flags")
    if flags is None:
        return None
    present = set(flags.split())
    return [name for flag, name in INSTRUCTION_SETS.items() if flag in present]


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
    cpuinfo = _cpuinfo()
    return {
        "cpu": cpu_name(cpuinfo),
        "instruction_sets": instruction_sets(cpuinfo),
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
