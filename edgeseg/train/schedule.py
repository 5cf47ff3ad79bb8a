"""Learning-rate schedules as pure functions of training progress, so a resumed run needs no state."""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "step", "poly")


def learning_rate(
    schedule: str,
    base_lr: float,
    progress: float,
    epochs: int,
    *,
    warmup_epochs: float = 0.0,
    min_lr_ratio: float = 0.01,
    step_gamma: float = 0.94,
) -> float:
    """The LR at `progress` epochs (fractional) into a phase of `epochs` epochs.

    Warm-up ramps linearly from 10 % to 100 % of base_lr; then
      cosine: down to min_lr_ratio · base_lr at the end of the phase,
      poly:   base_lr · (1 - t)^0.9, not below the same floor,
      step:   base_lr · step_gamma^epoch (×0.94 per epoch by default).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"scheduler must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    warmup = min(warmup_epochs, epochs / 2)
    if progress < warmup:
        return base_lr * (0.1 + 0.9 * progress / warmup)
    if schedule == "step":
        return base_lr * step_gamma ** math.floor(progress)
    t = min(1.0, (progress - warmup) / max(epochs - warmup, 1e-9))
    floor = base_lr * min_lr_ratio
    if schedule == "cosine":
        return floor + (base_lr - floor) * 0.5 * (1 + math.cos(math.pi * t))
    return max(floor, base_lr * (1 - t) ** 0.9)
