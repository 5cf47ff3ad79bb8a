"""OpenVINO backend for .onnx files (FP32, and the QDQ model.int8.onnx) on an Intel CPU, GPU or NPU.

Optional (the `openvino` extra) and imported only here: a Jetson never needs it. The ONNX file is read with
OpenVINO's ONNX front end (not `Core.read_model`, which tries every front end in turn and lets TensorFlow's print
parse errors for a file that is not ONNX), its metadata_props come from the model's rt_info["framework"], and it is
compiled with a per-user model cache (`cache_dir`), so a second start loads the compiled blob instead of compiling.

precision: OpenVINO's inference precision hint: "f32", "bf16", "f16", or None for the device's own default (bf16 on
a CPU with AMX or AVX-512 BF16, f32 on other CPUs, f16 on a GPU). A CPU without bf16 hardware runs f32 whatever
the hint says; `settings` reports the precision the compiled model runs in, not only the one asked for.

A QDQ INT8 file gets 7-bit weights as it loads where the CPU has no VNNI (`openvino_int8`): 8-bit ones saturate
there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.backends.openvino_int8 import halve_int8_weights, needs_7bit_weights
from edgeseg.runtime.backends.providers import PRECISIONS
from edgeseg.runtime.cpu import cpu_facts
from edgeseg.runtime.metadata import onnx_model_metadata

DEVICES = ("CPU", "GPU", "NPU", "AUTO")  # what --provider openvino:DEVICE names; GPU.1, AUTO:GPU,CPU work too
VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")  # OpenVINO's devices made of other devices
DEFAULT_DEVICE = "CPU"
DRIVERS = {
    "GPU": "an Intel GPU needs its compute driver (intel-opencl-icd or Level Zero)",
    "NPU": "an Intel NPU needs its driver (intel-npu-driver)",
}
CACHE_ENV = "EDGESEG_OPENVINO_CACHE"  # another cache folder; "off" (or empty) compiles every time
# OpenVINO's names for the element types its precision property reports.
_TYPE_NAMES = {"f32": "f32", "float32": "f32", "bf16": "bf16", "bfloat16": "bf16", "f16": "f16", "float16": "f16"}


def import_openvino() -> Any:
    return require("openvino", extra="openvino")


def cache_dir() -> Path | None:
    """Where compiled models are cached, per user: $EDGESEG_OPENVINO_CACHE, else $XDG_CACHE_HOME/edgeseg/openvino
    (~/.cache/edgeseg/openvino; %LOCALAPPDATA%\\edgeseg\\openvino on Windows). None when the cache is turned off
    ("off") or the folder cannot be made: the model is then compiled at every start."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        if chosen.strip().lower() in ("", "off", "0", "none"):
            return None
        folder = Path(chosen).expanduser()
    elif sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        folder = Path(os.environ["LOCALAPPDATA"]) / "edgeseg" / "openvino"
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeseg" / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def reason(exc: BaseException) -> str:
    """OpenVINO's exception as one line: its last line that is not a source location ("Exception from …")."""
    noise = ("Exception from ", "Check '", "FrontEnd API failed")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.startswith(noise)]
    return lines[-1] if lines else type(exc).__name__


def check_device(core: Any, device: str) -> str:
    """`device` as OpenVINO names it, or an error naming the devices this machine has."""
    name = device.strip().upper()
    base = name.split(":")[0].split(".")[0]
    if base in VIRTUAL_DEVICES:
        return name
    available = list(core.available_devices)  # "CPU", "GPU.0", "NPU": the plugins that found their hardware
    here = ", ".join(available) or "none"
    if name in available or ("." not in name and base in {d.split(".")[0] for d in available}):
        return name
    if base in ("CPU", "GPU", "NPU"):
        driver = DRIVERS.get(base, "OpenVINO's CPU plugin did not load")
        raise EdgesegError(
            f"OpenVINO finds no {name} on this machine (it has: {here}); {driver}, or pick another device "
            f"(--provider openvino:CPU)"
        )
    raise EdgesegError(
        f"unknown OpenVINO device {device!r}: use openvino:CPU, openvino:GPU, openvino:NPU or openvino:AUTO "
        f"(this machine has: {here})"
    )


def _shape(port: Any) -> list[Any]:
    """A port's shape: ints for fixed axes, None for dynamic ones."""
    return [d.get_length() if d.is_static else None for d in port.get_partial_shape()]


def _type_name(element_type: Any) -> str:
    """ "f32" for OpenVINO's Type f32 (or whatever text stands for a type)."""
    if hasattr(element_type, "get_type_name"):
        return str(element_type.get_type_name())
    return str(element_type).lower()


def _framework_props(model: Any) -> dict[str, str]:
    """The ONNX file's metadata_props, which OpenVINO's ONNX front end keeps in rt_info["framework"]."""
    if not model.has_rt_info(["framework"]):
        return {}
    keys = model.get_rt_info()["framework"]
    return {str(key): model.get_rt_info(["framework", key]).astype(str) for key in keys}


class OpenVinoBackend(Backend):
    """An ONNX file compiled by OpenVINO for one device, with one inference request reused for every call.

    device: "CPU" (default), "GPU", "NPU", "AUTO" or any name OpenVINO takes (GPU.1, AUTO:GPU,CPU).
    precision: the inference precision hint (see the module's docstring); None: the device's default.
    threads: inference threads on the CPU (None: OpenVINO's default, one per physical core).
    cache: use the model cache (`cache_dir`).
    weights_7bit: give INT8 weights 7 bits (`openvino_int8`); None: where the device may be a CPU without VNNI.
    """

    def __init__(
        self,
        path: str | Path,
        device: str = DEFAULT_DEVICE,
        precision: str | None = None,
        threads: int | None = None,
        cache: bool = True,
        weights_7bit: bool | None = None,
    ) -> None:
        path = Path(path)
        if not path.is_file():
            raise EdgesegError(f"model not found: {path}")
        if precision is not None and precision not in PRECISIONS:
            raise EdgesegError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        ov = import_openvino()
        from openvino.frontend import FrontEndManager

        self.version = ov.get_version().split("-")[0]
        core = ov.Core()
        self.device = check_device(core, device)
        try:
            frontend = FrontEndManager().load_by_framework("onnx")
            model = frontend.convert(frontend.load(str(path)))
        except Exception as exc:
            raise EdgesegError(f"OpenVINO cannot read {path} as ONNX ({reason(exc)})") from exc
        if weights_7bit is None:
            weights_7bit = needs_7bit_weights(self.device, cpu_facts().vnni)
        self.weights_7bit = halve_int8_weights(model, ov) if weights_7bit else 0
        self.input_names = [port.get_any_name() for port in model.inputs]
        self.output_names = [port.get_any_name() for port in model.outputs]
        self.metadata = onnx_model_metadata(_framework_props(model), _shape(model.outputs[0]), str(path))
        self._batch = _shape(model.inputs[0])[0]
        self.precision_hint = precision
        self.cache = cache_dir() if cache else None
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if precision is not None:
            config["INFERENCE_PRECISION_HINT"] = precision
        if threads and self.device.split(":")[0] in ("CPU", "AUTO"):
            config["INFERENCE_NUM_THREADS"] = int(threads)
        if self.cache is not None:
            config["CACHE_DIR"] = str(self.cache)
        try:
            self.compiled = core.compile_model(model, self.device, config)
        except Exception as exc:
            raise EdgesegError(f"OpenVINO cannot compile {path.name} for {self.device} ({reason(exc)})") from exc
        self.request = self.compiled.create_infer_request()
        self.loaded_from_cache = bool(self._property("LOADED_FROM_CACHE"))
        self.execution_devices = [str(d) for d in self._property("EXECUTION_DEVICES") or [self.device]]
        runs_in = self._property("INFERENCE_PRECISION_HINT")  # AUTO does not say: its device chose
        self.precision = _TYPE_NAMES.get(_type_name(runs_in)) if runs_in is not None else None

    def _property(self, name: str) -> Any:
        try:
            return self.compiled.get_property(name)
        except Exception:  # a property this device or version does not report
            return None

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "backend": type(self).__name__,
            "openvino": self.version,
            "device": self.device,
            "execution_devices": self.execution_devices,
            "precision_hint": self.precision_hint or "default",
            "precision": self.precision or "chosen by the device",
            "loaded_from_cache": self.loaded_from_cache,
            **({"int8_weights": f"7-bit in {self.weights_7bit} operations"} if self.weights_7bit else {}),
        }

    @property
    def max_batch(self) -> int | None:
        return self._batch  # None: a dynamic batch axis

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # share_outputs=False (the default): the results are copies, which callers may keep.
        results = self.request.infer({name: inputs[name] for name in self.input_names})
        return {name: np.asarray(results[port]) for name, port in zip(self.output_names, self.compiled.outputs)}

    def close(self) -> None:
        self.request = self.compiled = None
