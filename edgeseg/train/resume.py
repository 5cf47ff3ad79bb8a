"""Continuing a run: the last.pt it resumes from, the folder it continues in, what must match and what may change.

Where: only into the run folder the checkpoint belongs to, never into whatever folder holds a copy of it.
On what: the same number of processes; any device (the loss scale of mixed precision starts afresh when the
run was saved without it). docs/training.md, "Where and on what a run resumes", says it for users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edgeseg.errors import EdgesegError
from edgeseg.models.registry import legacy_defaults
from edgeseg.runtime.metadata_checks import Rules, check_fields, is_finite, is_text, is_whole
from edgeseg.train.checkpoint import DAMAGED, CheckpointError, load_checkpoint
from edgeseg.train.config import ConfigError, TrainConfig, merge

# What a resumed run reads from last.pt's training state, and the type and range of each (torch checks the
# optimizer's, scaler's and RNG's own contents when they are loaded).
STATE_PARTS = {"config": dict, "position": dict, "optimizer": dict, "scaler": dict, "rng": dict}
STATE_RULES: Rules = {
    "run_dir": (is_text, "the run folder's path"),
    "world_size": (lambda v: is_whole(v, 1, 1 << 20), "a whole number ≥ 1"),
}
_COUNT = (lambda v: is_whole(v, 0, 1 << 62), "a whole number ≥ 0")
POSITION_RULES: Rules = {
    "epoch": _COUNT,
    "step": _COUNT,
    "loss_count": _COUNT,
    "loss_sum": (is_finite, "a finite number"),
    "best_miou": (lambda v: is_finite(v) and -1 <= v <= 1, "a number from -1 to 1"),
}


def resume_payload(path: str | Path) -> dict[str, Any]:
    """A last.pt with its training state, or a clear error."""
    payload = load_checkpoint(path)
    if "train_state" not in payload:
        raise CheckpointError(f"{path} holds weights only (a best.pt?); resume from runs/<name>/weights/last.pt")
    _check_train_state(payload["train_state"], path)
    saved, named = payload["train_state"].get("config", {}).get("model"), payload["metadata"].get("model")
    if saved != named:
        raise CheckpointError(
            f"{path} is inconsistent: its training state is for {saved} but its metadata names {named}; "
            f"it was edited or assembled from two runs, start a new run instead"
        )
    return payload


def _check_train_state(state: Any, path: str | Path) -> None:
    """The training state's parts and position of the types edgeseg writes, and its options valid ones."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: its training state is a {type(state).__name__}, not a mapping; {DAMAGED}")
    for part, kind in STATE_PARTS.items():
        if part not in state:
            raise CheckpointError(f"{path}: its training state has no {part!r}; {DAMAGED}")
        if not isinstance(state[part], kind):
            what = type(state[part]).__name__
            raise CheckpointError(f"{path}: its training state {part!r} is a {what}, not a mapping; {DAMAGED}")
    check_fields(state, STATE_RULES, f"{path}: its training state field", DAMAGED)
    rng, tensor = state["rng"], lambda value: isinstance(value, torch.Tensor)
    cuda = rng.get("cuda", [])
    if not tensor(rng.get("torch")) or not (isinstance(cuda, list) and all(map(tensor, cuda))):
        raise CheckpointError(f"{path}: its training state 'rng' holds no random-number-generator states; {DAMAGED}")
    missing = sorted(set(POSITION_RULES) - set(state["position"]))
    if missing:
        raise CheckpointError(f"{path}: its training state 'position' has no {missing[0]!r}; {DAMAGED}")
    check_fields(state["position"], POSITION_RULES, f"{path}: its training state 'position' field", DAMAGED)
    try:
        merge(TrainConfig(), state["config"], f"the training state of {path}")  # each option's type and range
    except EdgesegError as exc:
        raise CheckpointError(f"{exc}; {DAMAGED}") from None


def resume_folder(checkpoint: str | Path, payload: dict[str, Any]) -> Path:
    """The run folder a resumed run writes to: the one `checkpoint` belongs to, or CheckpointError.

    That is the folder the checkpoint records when it is that folder's weights/ file; or, for a run folder
    moved or copied whole (and for checkpoints older than the record), the folder two levels up when the
    checkpoint sits in its weights/ beside that run's args.yaml. Anything else (a copy in the home folder, in
    a stray weights/ folder) is refused: a resumed run writes args.yaml, results.csv, curves and weights/
    into its folder, and must not into a folder that merely holds the checkpoint.
    """
    path = Path(checkpoint).resolve()
    recorded = payload["train_state"].get("run_dir")
    if recorded and path.parent == Path(recorded) / "weights":
        return Path(recorded)
    if path.parent.name == "weights" and (path.parent.parent / "args.yaml").is_file():
        return path.parent.parent
    if recorded:
        raise CheckpointError(
            f"{checkpoint} is not in its run folder; it was saved in {recorded}: resume from "
            f"{Path(recorded) / 'weights' / 'last.pt'} (copy it there if that one is gone)"
        )
    raise CheckpointError(
        f"{checkpoint} is not in a run folder and is too old to record its own; copy it to <run folder>/weights/"
        f"last.pt (beside that run's args.yaml) and resume from there"
    )


def check_processes(payload: dict[str, Any], world_size: int, checkpoint: str | Path) -> None:
    """Refuse to resume with another number of processes than saved the run.

    Each process takes its share of every epoch and the batch size is per process, so another count changes
    the effective batch, the steps per epoch and the learning-rate schedule: it would not be the same run,
    and a run stopped mid-epoch would repeat or skip images. Checkpoints older than the record are not checked.
    """
    saved = payload["train_state"].get("world_size")
    if saved is not None and saved != world_size:
        how = f"torchrun --nproc_per_node {saved} -m edgeseg train --resume {checkpoint}"
        if saved == 1:
            how = f"edgeseg train --resume {checkpoint} without torchrun"
        raise CheckpointError(
            f"{checkpoint} was saved by a run of {saved} processes, this is {world_size}; "
            f"resume it with as many ({how}), or start a new run"
        )


def restore_scaler(scaler: Any, state: dict[str, Any]) -> None:
    """Restore the mixed-precision loss scale where there is one to restore.

    A run saved on the CPU or with --no-amp saved a disabled scaler, whose state is empty; torch refuses to
    load that into an enabled one ("The source state dict is empty"). Resumed on CUDA with AMP, the scale
    then starts from its default and adapts within a few steps, as at the start of a run. A disabled scaler
    ignores whatever it is given.
    """
    if state:
        scaler.load_state_dict(state)


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
