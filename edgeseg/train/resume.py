"""Continuing a run: the last.pt it resumes from, and the options a resumed run keeps or may change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeseg.models.registry import legacy_defaults
from edgeseg.train.checkpoint import CheckpointError, load_checkpoint
from edgeseg.train.config import ConfigError, TrainConfig, merge


def resume_payload(path: str | Path) -> dict[str, Any]:
    """A last.pt with its training state, or a clear error."""
    payload = load_checkpoint(path)
    if "train_state" not in payload:
        raise CheckpointError(f"{path} holds weights only (a best.pt?); resume from runs/<name>/weights/last.pt")
    saved, named = payload["train_state"].get("config", {}).get("model"), payload["metadata"].get("model")
    if saved != named:
        raise CheckpointError(
            f"{path} is inconsistent: its training state is for {saved} but its metadata names {named}; "
            f"it was edited or assembled from two runs, start a new run instead"
        )
    return payload


def config_for_resume(payload: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    saved = TrainConfig(**payload["train_state"]["config"])
    # A run saved before a builder gained an argument resumes with the model it was training, not today's default.
    recorded = payload.get("metadata", {}).get("model_config", {})
    missing = {k: v for k, v in legacy_defaults(saved.model or "").items() if k not in recorded}
    saved.model_kwargs = {**missing, **saved.model_kwargs}
    # The learning rates may change too: the way out after a loss went NaN (see Trainer._diverged_advice).
    allowed = {"epochs", "device", "workers", "cache_gb", "lr", "freeze_lr"}
    refused = sorted(k for k, v in overrides.items() if v is not None and k not in allowed)
    if refused:
        raise ConfigError(
            f"--resume continues the saved run; only {', '.join(sorted(allowed))} may change, not {', '.join(refused)}"
        )
    return merge(saved, overrides, "command line")
