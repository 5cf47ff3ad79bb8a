"""Checkpoints: weights, the model's metadata (docs/architecture.md, rule 2) and, in last.pt, the training state.

Saved atomically and loaded with weights_only=True (docs/architecture.md, rule 6): only tensors and plain data go
in, so a checkpoint from a stranger cannot run code on load.
"""

from __future__ import annotations

import io
import platform
from pathlib import Path
from typing import Any

import torch

from edgeseg import __version__
from edgeseg.atomic import write_bytes_atomic
from edgeseg.errors import EdgesegError, describe
from edgeseg.models import SegmentationModel, rebuild_model
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.metadata_checks import REMEDIES
from edgeseg.runtime.palette import voc_palette

FORMAT = "edgeseg-checkpoint/1"
DAMAGED = REMEDIES[".pt"]  # what to do about a checkpoint whose contents are not what edgeseg wrote


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
    # Serialized in memory, then written as plain bytes: a full disk is then an OSError (ENOSPC) that
    # atomic writing names, rather than a RuntimeError from deep inside torch's zip writer.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def _not_a_checkpoint(path: Path) -> str | None:
    """What `path` is, when its first bytes show it cannot be a PyTorch file; None when it might be one.

    torch.save writes a zip archive (PyTorch ≥ 1.6) or, before that, a pickle stream (first byte 0x80).
    Saying what the file is beats passing on torch.load's parse error, whose advice (turn weights_only
    off) is wrong for a file that is no checkpoint and dangerous for one from a stranger.
    """
    with path.open("rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK\x03\x04"):
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "a damaged zip archive (a truncated or partly copied checkpoint?)"
        if not any(name.endswith("data.pkl") for name in names):
            return "a zip archive, but not one torch.save wrote (it holds no data.pkl)"
        return None
    if head.startswith(b"\x80"):
        return None
    if not head:
        return "an empty file"
    # An ONNX protobuf opens with field 1, ir_version (a small varint), then producer_name or the graph.
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and head[1] < 16 and head[2:3] in (b"\x12", b"\x3a")):
        return "an ONNX model, not a checkpoint; pass it to `edgeseg run` or `edgeseg export` as it is"
    if b"\0" not in head:
        try:
            head.decode("utf-8")
            return "a text file"
        except UnicodeDecodeError:
            pass
    return "not a PyTorch file (it starts with neither a zip nor a pickle header)"


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    what = _not_a_checkpoint(path)
    if what is not None:
        raise CheckpointError(f"{path} is {what}; pass a .pt from `edgeseg train` (runs/<name>/weights/best.pt)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = describe(exc)
        if "Re-running" in reason:  # torch's advice to turn weights_only off: never pass that on
            reason = "it holds objects other than tensors and plain data"
        raise CheckpointError(
            f"cannot load {path} as an edgeseg checkpoint ({reason}); pass a .pt from `edgeseg train`"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an edgeseg checkpoint (no {FORMAT!r} format tag); "
            f"pass runs/<name>/weights/best.pt or last.pt from `edgeseg train`"
        )
    _check_contents(payload, path)
    return payload


def _check_contents(payload: dict[str, Any], path: Path) -> None:
    """The parts every reader relies on, of the types edgeseg writes: a tagged file can still be damaged or
    assembled by hand (docs/architecture.md, rule 7)."""
    metadata, weights = payload.get("metadata"), payload.get("model")
    if metadata is None:
        raise CheckpointError(f"{path} has the edgeseg format tag but no metadata; {DAMAGED}")
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: its metadata is a {type(metadata).__name__}, not a mapping; {DAMAGED}")
    ModelMetadata.from_dict(metadata, str(path), DAMAGED)  # every field's type and range
    if weights is None:
        raise CheckpointError(f"{path} has the edgeseg format tag but no weights; {DAMAGED}")
    if not isinstance(weights, dict):
        raise CheckpointError(f"{path}: its weights are a {type(weights).__name__}, not a state dict; {DAMAGED}")
    for name, value in weights.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{path}: its weights are not tensors ({name!r} is {type(value).__name__}); {DAMAGED}"
            )


def load_weights(model: torch.nn.Module, state: dict[str, Any], path: str | Path, what: str) -> None:
    """Load a state dict, or one line that counts what does not fit (not torch's list of every key)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or reshaped:
        example = (missing or unexpected or reshaped)[0]
        raise CheckpointError(
            f"{path}: its weights do not fit {what} ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(reshaped)} of another shape, e.g. {example!r}); was it saved by another model or edited?"
        )
    model.load_state_dict(state)


def model_from_checkpoint(path: str | Path) -> tuple[SegmentationModel, ModelMetadata, dict[str, Any]]:
    """Rebuild the network from the checkpoint's metadata and load its weights (on the CPU)."""
    payload = load_checkpoint(path)
    metadata = ModelMetadata.from_dict(payload["metadata"], str(path), DAMAGED)
    config = {k: v for k, v in metadata.model_config.items() if k != "model"}
    try:
        model = rebuild_model(metadata.model, config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its metadata describes no model edgeseg builds ({describe(exc)})") from exc
    load_weights(model, payload["model"], path, metadata.model)
    metadata.check_outputs(model.num_classes, str(path))
    return model, metadata, payload
