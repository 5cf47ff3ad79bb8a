"""Training options: defaults, a YAML file, and command-line options, merged in that order."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.metadata import RESIZE_MODES, UPSAMPLE_MODES
from edgeseg.schema import Field, OptionError, check_value, one_of, said
from edgeseg.train.schedule import SCHEDULES

OPTIMIZERS = ("adam", "adamw", "sgd")
OUTPUT_STRIDES = (8, 16)


class ConfigError(EdgesegError):
    """Training options that cannot work together."""


# Type and range of every TrainConfig field, for the command line and YAML files alike.
SCHEMA: dict[str, Field] = {
    "model": Field("str", optional=True),
    "data": Field("str", optional=True),
    "upsample": one_of(UPSAMPLE_MODES, optional=True),
    "pretrained_backbone": Field("str", optional=True),
    "size": Field("size", low=16),
    "resize": one_of(RESIZE_MODES),
    "epochs": Field("int", low=1),
    "batch_size": Field("int", low=2),  # BatchNorm needs two samples to train
    "lr": Field("float", low=0, low_open=True),
    "freeze_epochs": Field("int", low=0),
    "freeze_batch_size": Field("int", low=2),
    "freeze_lr": Field("float", low=0, low_open=True),
    "optimizer": one_of(OPTIMIZERS),
    "momentum": Field("float", low=0, high=1),
    "weight_decay": Field("float", low=0),
    "scheduler": one_of(SCHEDULES),
    "warmup_epochs": Field("float", low=0),
    "min_lr_ratio": Field("float", low=0, high=1),
    "step_gamma": Field("float", low=0, high=1, low_open=True),
    "loss": Field("str"),
    "class_weights": Field("floats", low=0, optional=True),
    "device": Field("str"),
    "amp": Field("bool"),
    "workers": Field("int", low=0),
    "seed": Field("int", low=0),
    "project": Field("str"),
    "name": Field("str", optional=True),
    "exist_ok": Field("bool"),
    "cache_gb": Field("float", low=0),
    "train_split": Field("str"),
    "val_split": Field("str"),
}
MODEL_KWARGS: dict[str, Field] = {
    "output_stride": one_of(OUTPUT_STRIDES, option="--output-stride"),
    "separable": Field("bool", option="--separable/--dense"),
}


def _check_model_kwargs(value: Any, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OptionError(f"model_kwargs in {source} must be a mapping such as {{output_stride: 8}}, got {value!r}")
    unknown = sorted((k for k in value if k not in MODEL_KWARGS), key=str)  # keys of a YAML file may be numbers
    if unknown:
        known = ", ".join(MODEL_KWARGS)
        raise OptionError(f"model_kwargs in {source}: unknown {', '.join(map(str, unknown))} (known: {known})")
    return {k: check_value(k, MODEL_KWARGS[k], v, source) for k, v in value.items()}


def check_fields(values: dict[str, Any], source: str) -> dict[str, Any]:
    """`values` (TrainConfig field names) checked against SCHEMA, naming the option or field that is wrong."""
    checked = {}
    for name, value in values.items():
        if name == "model_kwargs":
            checked[name] = _check_model_kwargs(value, source)
        elif name in SCHEMA:
            checked[name] = check_value(name, SCHEMA[name], value, source)
        else:  # a field without a schema entry (tests/cli/test_bad_inputs.py asserts there is none)
            checked[name] = value
    return checked


@dataclass
class TrainConfig:
    model: str | None = None
    data: str | None = None
    upsample: str | None = field(default=None, metadata=said("the model's"))
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {output_stride: 8}
    pretrained_backbone: str | None = None
    size: list[int] = field(default_factory=lambda: [512, 512], metadata=said("512"))  # [height, width]
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
    amp: bool = field(default=True, metadata=said("on"))  # used on CUDA only
    workers: int = 2
    seed: int = 0
    project: str = "runs"
    name: str | None = field(default=None, metadata=said("the model name; numbered if taken"))
    exist_ok: bool = False
    cache_gb: float = 4.0
    train_split: str = "train"
    val_split: str = "val"

    def check(self) -> TrainConfig:
        """Raise ConfigError (or OptionError) on the first option that cannot work."""
        check_fields({k: v for k, v in self.to_dict().items() if k in SCHEMA or k == "model_kwargs"}, "options")
        if not self.model:
            raise ConfigError("no model: pass --model NAME (see `edgeseg models`)")
        if not self.data:
            raise ConfigError("no dataset: pass --data DATA (a VOC-format folder; `edgeseg data synth` makes one)")
        if self.freeze_epochs > self.epochs:
            raise ConfigError(f"--freeze-epochs ({self.freeze_epochs}) must not exceed --epochs ({self.epochs})")
        if self.device.split(":")[0] not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda[:N], got {self.device!r}")
        from edgeseg.train.losses import parse_loss  # torch: only when a run is checked, not for --help

        try:
            parse_loss(self.loss)
        except ValueError as exc:
            raise ConfigError(f"--loss: {exc}") from exc
        if self.class_weights is not None and not sum(self.class_weights) > 0:
            raise ConfigError(f"--class-weights must not all be zero, got {self.class_weights}")
        self._check_model()
        return self

    def _check_model(self) -> None:
        from edgeseg.models import list_models

        if self.model not in list_models():
            raise ConfigError(f"unknown model {self.model!r}; choose one of: {', '.join(list_models())}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def merge(base: TrainConfig, updates: dict[str, Any], source: str) -> TrainConfig:
    """A copy of `base` with `updates` (keys may use - or _); None values are skipped."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    numbered = [k for k in updates if not isinstance(k, str)]  # YAML reads `1: 2` as a number key
    if numbered:
        raise ConfigError(f"{source}: option names must be text, got {numbered[0]!r}")
    clean = {k.replace("-", "_"): v for k, v in updates.items() if v is not None}
    unknown = sorted(set(clean) - fields)
    if unknown:
        raise ConfigError(f"{source}: unknown option(s) {', '.join(unknown)}")
    return dataclasses.replace(base, **check_fields(clean, source))


def load_yaml(path: str | Path) -> dict[str, Any]:
    yaml = require("yaml", extra="train")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start} is {raw[exc.start]:#04x}"
        raise ConfigError(f"{path} is not UTF-8 text ({where}); save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    except RecursionError:
        raise ConfigError(f"{path} nests too deeply to be an options file (option: value per line)") from None
    if data is None:  # an empty file: no options
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of option: value, not a {type(data).__name__}")
    return data
