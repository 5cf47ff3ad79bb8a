"""Checkpoints: weights, the model's metadata (DESIGN.md rule 2) and, in last.pt, the training state.

Saved atomically and loaded with weights_only=True (DESIGN.md rule 6): only tensors and plain data go
in, so a checkpoint from a stranger cannot run code on load.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch

from edgeseg import __version__
from edgeseg.atomic import atomic_path
from edgeseg.errors import EdgesegError, describe
from edgeseg.models import SegmentationModel, rebuild_model
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.palette import voc_palette

FORMAT = "edgeseg-checkpoint/1"


class CheckpointError(EdgesegError):
    """A file that is not a usable edgeseg checkpoint."""


def make_metadata(
    model: SegmentationModel,
    class_names: tuple[str, ...],
    input_size: tuple[int, int],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    resize: str,
) -> ModelMetadata:
    return ModelMetadata(
        model=model.config["model"],
        model_config=dict(model.config),
        class_names=list(class_names),
        palette=voc_palette(len(class_names)).tolist(),
        input_size=list(input_size),
        mean=list(mean),
        std=list(std),
        resize=resize,
        upsample=model.upsample,
        versions={
            "edgeseg": __version__,
            "torch": str(torch.__version__),
            "python": platform.python_version(),
        },
    )


def save_checkpoint(
    path: str | Path,
    model: SegmentationModel,
    metadata: ModelMetadata,
    train_state: dict[str, Any] | None = None,
) -> None:
    payload = {"format": FORMAT, "metadata": metadata.to_dict(), "model": model.state_dict()}
    if train_state is not None:
        payload["train_state"] = train_state
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"cannot load {path} as an edgeseg checkpoint ({describe(exc)}); pass a .pt from `edgeseg train`"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an edgeseg checkpoint (no {FORMAT!r} format tag); "
            f"pass runs/<name>/weights/best.pt or last.pt from `edgeseg train`"
        )
    return payload


def model_from_checkpoint(path: str | Path) -> tuple[SegmentationModel, ModelMetadata, dict[str, Any]]:
    """Rebuild the network from the checkpoint's metadata and load its weights (on the CPU)."""
    payload = load_checkpoint(path)
    metadata = ModelMetadata.from_dict(payload["metadata"], source=str(path))
    config = {k: v for k, v in metadata.model_config.items() if k != "model"}
    model = rebuild_model(metadata.model, config)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit {metadata.model} ({describe(exc)})") from exc
    return model, metadata, payload
