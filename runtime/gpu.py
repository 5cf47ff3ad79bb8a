"""What the GPU is, read from the CUDA driver (libcuda) through ctypes: no CUDA binding needed.

TensorRT builds engines without cuda-python or pycuda, so the facts an engine's sidecar records
(GPU name, compute capability) and `edgeseg doctor` reports (integrated or not, the driver's CUDA
version) come from the driver library every NVIDIA GPU machine, Jetsons included, has.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

# CUdevice_attribute values from cuda.h (the same in every CUDA since 5.0).
_INTEGRATED, _CC_MAJOR, _CC_MINOR = 18, 75, 76


@dataclass(frozen=True)
class GpuFacts:
    name: str
    capability: str  # "8.7"
    integrated: bool  # shares memory with the CPU (every Jetson)
    driver_cuda: str  # the newest CUDA this driver supports, "12.6"


def load_libcuda() -> Any:
    """The driver library, or None where there is none (no NVIDIA driver on this machine)."""
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def cuda_version(encoded: int) -> str:
    """CUDA's encoding of a version (1000 × major + 10 × minor) as "major.minor": 12060 → "12.6"."""
    return f"{encoded // 1000}.{encoded % 1000 // 10}"


def driver_cuda() -> str | None:
    """The newest CUDA this driver supports ("12.6"), or None without a driver."""
    lib = load_libcuda()
    version = ctypes.c_int()
    if lib is None or lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return cuda_version(version.value)


def gpu_facts() -> GpuFacts | None:
    """Device 0 as the driver reports it, or None without a driver or a GPU."""
    lib = load_libcuda()
    if lib is None or lib.cuInit(0) != 0:
        return None
    device, version = ctypes.c_int(), ctypes.c_int()
    if lib.cuDeviceGet(ctypes.byref(device), 0) != 0 or lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    name = ctypes.create_string_buffer(256)
    if lib.cuDeviceGetName(name, 256, device) != 0:
        return None

    def attribute(code: int) -> int:
        value = ctypes.c_int()
        return value.value if lib.cuDeviceGetAttribute(ctypes.byref(value), code, device) == 0 else -1

    return GpuFacts(
        name=name.value.decode(errors="replace"),
        capability=f"{attribute(_CC_MAJOR)}.{attribute(_CC_MINOR)}",
        integrated=attribute(_INTEGRATED) == 1,
        driver_cuda=cuda_version(version.value),
    )
