"""Which backend runs an .onnx file: what `--provider` names, and the choice when it names nothing.

--provider takes ONNX Runtime's execution providers (tensorrt, cuda, cpu) or OpenVINO on a device:
`openvino` (its CPU), `openvino:CPU`, `openvino:GPU`, `openvino:NPU`, `openvino:AUTO` (OpenVINO picks), or any
device name OpenVINO takes (`openvino:GPU.1`). An explicit --provider always wins.

Without one, the environment variable EDGESEG_PROVIDER (the same values) decides where it is set. Else an .onnx
file runs on OpenVINO's CPU where OpenVINO is installed, the CPU is Intel's (`edgeseg.runtime.cpu`: /proc/cpuinfo's
vendor_id, else what the platform names) and ONNX Runtime has no GPU provider (CUDA or TensorRT come first where
there is an NVIDIA GPU); everywhere else on ONNX Runtime's best provider. OpenVINO runs on AMD CPUs too, but its
fast paths (AMX, AVX-512 VNNI/BF16) are Intel's; there ONNX Runtime stays the default and `--provider openvino` is
one flag away.
"""

from __future__ import annotations

import importlib.util
import os

from edgeseg.errors import EdgesegError

PROVIDER_ENV = "EDGESEG_PROVIDER"  # the default --provider of this machine or service (tests pin it to cpu)
ONNXRUNTIME_PROVIDERS = ("tensorrt", "cuda", "cpu")  # edgeseg.runtime.backends.onnxruntime.SHORT_NAMES
OPENVINO = "openvino"
PRECISIONS = ("f32", "bf16", "f16")  # OpenVINO's inference precision hints (--precision)
EXAMPLES = "tensorrt, cuda, cpu (ONNX Runtime) or openvino, openvino:CPU, openvino:GPU, openvino:NPU, openvino:AUTO"


def openvino_device(provider: str | None) -> str | None:
    """The OpenVINO device `provider` names ("CPU" for plain "openvino"), or None for an ONNX Runtime provider."""
    if provider is None:
        return None
    name, _, device = provider.partition(":")
    if name.lower() != OPENVINO:
        return None
    return device.strip() or "CPU"


def check_provider(provider: str | None, precision: str | None = None) -> None:
    """Refuse a --provider or --precision that names nothing edgeseg knows, before anything loads."""
    if provider is not None and provider not in ONNXRUNTIME_PROVIDERS:
        name, colon, device = provider.partition(":")
        if name.lower() != OPENVINO or (colon and not device.strip()):
            raise EdgesegError(f"--provider must be one of {EXAMPLES}, got {provider!r}")
    if precision is not None:
        if precision not in PRECISIONS:
            raise EdgesegError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if provider is not None and openvino_device(provider) is None:
            raise EdgesegError(
                f"--precision is OpenVINO's precision hint; --provider {provider} is ONNX Runtime's: "
                f"use --provider openvino (or leave --precision out)"
            )


def default_onnx_provider() -> str | None:
    """ "openvino" where an .onnx file should run on OpenVINO's CPU by default (see the module's docstring), else
    None: ONNX Runtime, on its best provider. $EDGESEG_PROVIDER, where set, is the answer."""
    chosen = os.environ.get(PROVIDER_ENV, "").strip()
    if chosen:
        try:
            check_provider(chosen)
        except EdgesegError as exc:
            raise EdgesegError(f"{PROVIDER_ENV}: {exc}") from None
        return chosen
    if importlib.util.find_spec("openvino") is None:
        return None
    if importlib.util.find_spec("onnxruntime") is None:
        return OPENVINO  # the one backend for .onnx files here
    from edgeseg.runtime.cpu import cpu_facts

    if not cpu_facts().intel:
        return None
    import onnxruntime

    gpu = {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(onnxruntime.get_available_providers())
    return None if gpu else OPENVINO
