"""PyTorch backend for .pt checkpoints, for desktops without an export. torch is imported only here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeseg.errors import require
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.metadata import INPUT_NAME, OUTPUT_NAMES


class PyTorchBackend(Backend):
    def __init__(self, path: str | Path, device: str | None = None) -> None:
        self.input_names, self.output_names = [INPUT_NAME], [OUTPUT_NAMES["logits"]]
        self.torch = require("torch", extra="train")
        from edgeseg.train.checkpoint import model_from_checkpoint

        model, metadata, _ = model_from_checkpoint(path)
        self.device = self.torch.device(device or ("cuda" if self.torch.cuda.is_available() else "cpu"))
        self.model = model.eval().to(self.device)
        self.metadata = metadata  # checked against the network's outputs by model_from_checkpoint

    @property
    def max_batch(self) -> int | None:
        return None  # eager PyTorch takes any batch

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self.torch.inference_mode():
            logits = self.model(self.torch.from_numpy(inputs[INPUT_NAME]).to(self.device))
        return {OUTPUT_NAMES["logits"]: logits.float().cpu().numpy()}

    def close(self) -> None:
        self.model = None
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()
