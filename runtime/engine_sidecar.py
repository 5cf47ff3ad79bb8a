"""The JSON sidecar beside a TensorRT engine (`model.engine.json`), and the check that the engine fits here.

Engines stay raw (trtexec and Polygraphy open them as they are); what edgeseg needs to know about one
(its model metadata, and the TensorRT version, GPU and compute capability it was built for) lives in
the sidecar. An engine is tied to both: another TensorRT version refuses to deserialize it, and
another compute capability cannot run its kernels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeseg.atomic import write_text_atomic
from edgeseg.errors import EdgesegError
from edgeseg.runtime.metadata_checks import Rules, check_fields, is_text, is_whole, json_object, remedy_for

# The facts of the build the sidecar adds to the model's metadata (ModelMetadata checks its own fields).
BUILD_RULES: Rules = {
    "tensorrt": (is_text, "a TensorRT version text"),
    "gpu": (is_text, "a GPU name"),
    "compute_capability": (is_text, "a compute capability text such as 8.7"),
    "onnx": (is_text, "the name of the ONNX file it was built from"),
    "dla_core": (lambda v: v is None or is_whole(v, 0, 64), "null or a DLA core number"),
}


class EngineMismatch(EdgesegError):
    """An engine built for another TensorRT version or GPU."""


def sidecar_path(engine: str | Path) -> Path:
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def write_sidecar(engine: str | Path, info: dict[str, Any]) -> Path:
    path = sidecar_path(engine)
    write_text_atomic(path, json.dumps(info, indent=2, sort_keys=True) + "\n")
    return path


def read_sidecar(engine: str | Path) -> dict[str, Any]:
    path = sidecar_path(engine)
    if not path.is_file():
        raise EdgesegError(
            f"{engine} has no sidecar {path.name}: edgeseg cannot tell its classes, input size or the GPU it "
            f"was built for; build it with `edgeseg export model.onnx`"
        )
    remedy = remedy_for(".engine")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EdgesegError(f"cannot read {path} ({exc.strerror or exc}); {remedy}") from None
    sidecar = json_object(raw, str(path), remedy)
    return check_fields(sidecar, BUILD_RULES, f"{path}: its field", remedy)


def check_compatible(
    engine: str | Path, sidecar: dict[str, Any], tensorrt: str, gpu: str, capability: str
) -> list[str]:
    """Raise EngineMismatch if the engine cannot run here; return warnings for what merely may be slower."""
    built = f"TensorRT {sidecar.get('tensorrt')} on {sidecar.get('gpu')} (compute {sidecar.get('compute_capability')})"
    here = f"TensorRT {tensorrt} on {gpu} (compute {capability})"
    rebuild = f"rebuild it here with `edgeseg export {sidecar.get('onnx', 'model.onnx')}`"
    if sidecar.get("tensorrt") != tensorrt or sidecar.get("compute_capability") != capability:
        raise EngineMismatch(f"{engine} was built for {built}, but this is {here}; {rebuild}")
    if sidecar.get("gpu") != gpu:
        return [
            f"{engine} was built on {sidecar.get('gpu')}, this is {gpu} (same compute capability): it runs, "
            f"but its kernels were tuned for the other GPU; {rebuild} for best speed"
        ]
    return []
