"""ONNX Runtime backend for .onnx files: TensorRT, CUDA or CPU execution provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError, describe, install_hint, require
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.metadata import onnx_model_metadata
from edgeseg.runtime.metadata_checks import MetadataError, remedy_for

PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
SHORT_NAMES = {"tensorrt": PREFERENCE[0], "cuda": PREFERENCE[1], "cpu": PREFERENCE[2]}


class OnnxRuntimeBackend(Backend):
    """An ONNX Runtime session on the best available provider, or the one `provider` names.

    provider: "tensorrt", "cuda", "cpu" or None (the first of those this onnxruntime offers).
    threads: intra-op threads for the CPU provider (None: ONNX Runtime's default, one per core).
    spin: let idle worker threads busy-wait for the next call (lowest latency when inference is all the
        process does). In a pipeline they would burn the cores that decoding and rendering need.
    """

    def __init__(
        self, path: str | Path, provider: str | None = None, threads: int | None = None, spin: bool = True
    ) -> None:
        ort = require("onnxruntime", extra="export")
        path = Path(path)
        if not path.is_file():
            raise EdgesegError(f"model not found: {path}")
        available = ort.get_available_providers()
        if provider is None:
            providers = [p for p in PREFERENCE if p in available]
        else:
            if provider not in SHORT_NAMES:
                raise EdgesegError(f"--provider must be one of {', '.join(SHORT_NAMES)}, got {provider!r}")
            if SHORT_NAMES[provider] not in available:
                raise EdgesegError(
                    f"this onnxruntime has no {SHORT_NAMES[provider]} (it has {', '.join(available)}); "
                    f"{install_hint('onnxruntime-gpu')}; or pick another --provider"
                )
            # Nodes the named provider cannot take fall to the next one (TensorRT → CUDA → CPU), not all to the CPU.
            providers = [p for p in PREFERENCE[PREFERENCE.index(SHORT_NAMES[provider]) :] if p in available]
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:
            raise EdgesegError(f"ONNX Runtime cannot load {path} ({describe(exc)})") from exc
        self.provider = self.session.get_providers()[0]
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.output_shape = list(self.session.get_outputs()[0].shape)  # dynamic axes are names, not ints
        try:
            props = self.session.get_modelmeta().custom_metadata_map
        except UnicodeDecodeError as exc:  # ONNX Runtime hands every value over as text
            raise MetadataError(
                f"{path}: its metadata_props are not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}); "
                f"{remedy_for('.onnx')}"
            ) from None
        self.metadata = onnx_model_metadata(props, self.output_shape, str(path))

    @property
    def max_batch(self) -> int | None:
        batch = self.session.get_inputs()[0].shape[0]
        return batch if isinstance(batch, int) else None  # a name ("batch") or None: a dynamic axis

    @property
    def settings(self) -> dict[str, Any]:
        import onnxruntime

        return {"backend": type(self).__name__, "onnxruntime": onnxruntime.__version__, "provider": self.provider}

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run(self.output_names, inputs)
        return dict(zip(self.output_names, outputs))

    def close(self) -> None:
        self.session = None
