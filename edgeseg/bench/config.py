"""What a benchmark run measures: the options of `edgeseg bench`, also readable from a YAML file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgeseg.bench.settings import BACKENDS
from edgeseg.errors import EdgesegError
from edgeseg.runtime.metadata import EXPORT_OUTPUTS, UPSAMPLE_MODES
from edgeseg.schema import COMMAND_LINE, Field, check_value, said

HEADS = ("separable", "dense")  # DeepLabV3+'s two heads; other models have one and ignore this axis
OUTPUTS = EXPORT_OUTPUTS  # what an exported model returns (runtime backends only)


@dataclass
class BenchConfig:
    """The options of `edgeseg bench`, with their defaults (the command line's help reads them from here).

    This module is read when the command line starts, so it imports nothing heavy: the model and decoder names
    (edgeseg.models imports torch) are looked up when a configuration is checked.
    """

    models: list[str] = field(default_factory=list, metadata=said("every registered model"))
    upsample: list[str] = field(default_factory=list, metadata=said("every decoder"))
    heads: list[str] = field(default_factory=lambda: list(HEADS))
    outputs: list[str] = field(default_factory=lambda: list(OUTPUTS))
    backends: list[str] = field(default_factory=lambda: list(BACKENDS), metadata=said("all"))
    sizes: list[int] = field(default_factory=lambda: [256, 512])
    batch: int = 1
    runs: int = 20
    warmup: int = 3
    threads: int | None = field(default=None, metadata=said("every core"))
    e2e_frames: int = 30  # frames of the generated video for the end-to-end runtime measurement; 0: skip
    num_classes: int = 21
    calib_images: int = 16
    out: Path = Path("runs/bench")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out": str(self.out)}


# Type and range of every option, for the command line and a YAML file alike.
SCHEMA: dict[str, Field] = {
    "models": Field("strs"),
    "upsample": Field("strs", choices=UPSAMPLE_MODES),
    "heads": Field("strs", choices=HEADS),
    "outputs": Field("strs", choices=OUTPUTS),
    "backends": Field("strs", choices=tuple(BACKENDS)),
    "sizes": Field("ints", low=32),
    "batch": Field("int", low=1),
    "runs": Field("int", low=1),
    "warmup": Field("int", low=0),
    "threads": Field("int", low=1, optional=True),
    "e2e_frames": Field("int", low=0),
    "num_classes": Field("int", low=2, option="--classes"),
    "calib_images": Field("int", low=1),
    "out": Field("str"),
}


def build_config(values: dict[str, Any], source: str = COMMAND_LINE) -> BenchConfig:
    """A checked BenchConfig from option values (None means: keep the default)."""
    known = {f.name for f in fields(BenchConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise EdgesegError(f"unknown option(s) in {source}: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    config = BenchConfig()
    for name, value in values.items():
        if value is None:
            continue
        value = check_value(name, SCHEMA[name], str(value) if name == "out" else value, source)
        if name in ("models", "upsample", "heads", "outputs", "backends", "sizes"):
            value = list(dict.fromkeys(value))  # a name given twice is measured once
        setattr(config, name, Path(value) if name == "out" else value)
    return check(config)


def check(config: BenchConfig) -> BenchConfig:
    """What the schema cannot see: models that exist, something to measure, a folder for --out."""
    from edgeseg.models import list_models

    available = list_models()
    config.models = config.models or available
    config.upsample = config.upsample or list(UPSAMPLE_MODES)
    for name in config.models:
        if name not in available:
            raise EdgesegError(f"unknown model {name!r}; choose from {', '.join(available)}")
    if not (config.models and config.upsample and config.backends and config.sizes and config.heads and config.outputs):
        raise EdgesegError(
            "nothing to measure: --models, --upsample, --heads, --outputs, --backends and --sizes must not be empty"
        )
    return config


def head_kwargs(model: str, heads: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(head label, builder arguments) per head to measure: DeepLabV3+'s chosen heads, or ("", {}) for a
    model with one head."""
    from edgeseg.models.registry import accepts

    if not accepts(model, "separable"):
        return [("", {})]
    return [(head, {"separable": head == "separable"}) for head in heads]


@dataclass(frozen=True)
class Variant:
    """One network the suite measures: a model with one decoder and (DeepLabV3+) one head, at one size."""

    model: str
    upsample: str
    head: str  # "" for a model with one head
    model_kwargs: dict[str, Any]
    size: int

    @property
    def name(self) -> str:
        return "_".join(p for p in (self.model, self.upsample, self.head, str(self.size)) if p)


def variants(config: BenchConfig) -> list[Variant]:
    """Every size × model × upsample × head `config` names, in the order the rows are reported."""
    return [
        Variant(model, upsample, head, model_kwargs, size)
        for size in config.sizes
        for model in config.models
        for upsample in config.upsample
        for head, model_kwargs in head_kwargs(model, config.heads)
    ]
