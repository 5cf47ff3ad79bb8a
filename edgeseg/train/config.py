"""Training options: defaults, a YAML file, and command-line options, merged in that order."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.preprocess import RESIZE_MODES
from edgeseg.train.losses import parse_loss
from edgeseg.train.schedule import SCHEDULES

OPTIMIZERS = ("adam", "adamw", "sgd")


class ConfigError(EdgesegError):
    """Training options that cannot work together."""


@dataclass
class TrainConfig:
    model: str | None = None
    data: str | None = None
    upsample: str | None = None  # None: the model's default
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {output_stride: 8}
    pretrained_backbone: str | None = None
    size: list[int] = field(default_factory=lambda: [512, 512])  # [height, width]
    resize: str = "letterbox"
    epochs: int = 100
    batch_size: int = 4
    lr: float = 1e-4
    freeze_epochs: int = 0  # the first phase: backbone frozen, with its own batch size and LR
    freeze_batch_size: int = 8
    freeze_lr: float = 5e-4
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    step_gamma: float = 0.94
    loss: str = "ce"
    class_weights: list[float] | None = None
    device: str = "auto"
    amp: bool = True  # used on CUDA only
    workers: int = 2
    seed: int = 0
    project: str = "runs"
    name: str | None = None  # default: the model name
    exist_ok: bool = False
    cache_gb: float = 4.0
    train_split: str = "train"
    val_split: str = "val"

    def check(self) -> TrainConfig:
        """Raise ConfigError on the first option that cannot work."""
        if not self.model:
            raise ConfigError("no model: pass --model NAME (see `edgeseg models`)")
        if not self.data:
            raise ConfigError("no dataset: pass --data DATA (a VOC-format folder; `edgeseg data synth` makes one)")
        if len(self.size) != 2 or min(self.size) < 16:
            raise ConfigError(f"size must be [height, width] of at least 16 pixels, got {self.size}")
        if not 0 <= self.freeze_epochs <= self.epochs or self.epochs < 1:
            raise ConfigError(
                f"need 0 ≤ freeze_epochs ≤ epochs and epochs ≥ 1, got {self.freeze_epochs}, {self.epochs}"
            )
        if min(self.batch_size, self.freeze_batch_size) < 2:
            raise ConfigError("batch sizes must be at least 2 (BatchNorm needs two samples to train)")
        for name, value, allowed in (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("scheduler", self.scheduler, SCHEDULES),
            ("resize", self.resize, RESIZE_MODES),
            ("device", self.device.split(":")[0], ("auto", "cpu", "cuda")),
        ):
            if value not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        try:
            parse_loss(self.loss)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if min(self.lr, self.freeze_lr) <= 0:
            raise ConfigError("learning rates must be positive")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def merge(base: TrainConfig, updates: dict[str, Any], source: str) -> TrainConfig:
    """A copy of `base` with `updates` (keys may use - or _); None values are skipped."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    clean = {k.replace("-", "_"): v for k, v in updates.items() if v is not None}
    unknown = sorted(set(clean) - fields)
    if unknown:
        raise ConfigError(f"{source}: unknown option(s) {', '.join(unknown)}")
    return dataclasses.replace(base, **clean)


def load_yaml(path: str | Path) -> dict[str, Any]:
    yaml = require("yaml", extra="train")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of option: value")
    return data
