"""What a benchmark run measures: the options of `edgeseg bench`, also readable from a YAML file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgeseg.bench.backends import BACKENDS
from edgeseg.errors import EdgesegError

UPSAMPLE_MODES = ("bilinear", "transposed")
HEADS = ("separable", "dense")  # DeepLabV3+'s two heads; other models have one and ignore this axis
OUTPUTS = ("classes", "logits")  # what an exported model returns (runtime backends only)


@dataclass
class BenchConfig:
    models: list[str] = field(default_factory=list)  # empty: every registered model
    upsample: list[str] = field(default_factory=lambda: list(UPSAMPLE_MODES))
    heads: list[str] = field(default_factory=lambda: list(HEADS))
    outputs: list[str] = field(default_factory=lambda: list(OUTPUTS))
    backends: list[str] = field(default_factory=lambda: list(BACKENDS))
    sizes: list[int] = field(default_factory=lambda: [256, 512])
    batch: int = 1
    runs: int = 20
    warmup: int = 3
    threads: int | None = None  # None: every core
    e2e_frames: int = 30  # frames of the generated video for the end-to-end runtime measurement; 0: skip
    num_classes: int = 21
    calib_images: int = 16
    out: Path = Path("runs/bench")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out": str(self.out)}


def _as_list(value: Any, name: str) -> list:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    elif not isinstance(value, (list, tuple)):
        value = [value]  # one value where a list is expected
    return list(dict.fromkeys(value))  # a name given twice is measured once


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise EdgesegError(f"{name} must be a whole number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise EdgesegError(f"{name} must be a whole number, got {value!r}") from None


_INTEGERS = {"batch", "runs", "warmup", "threads", "e2e_frames", "num_classes", "calib_images"}


def build_config(values: dict[str, Any], source: str = "the command line") -> BenchConfig:
    """A checked BenchConfig from option values (None means: keep the default)."""
    known = {f.name for f in fields(BenchConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise EdgesegError(f"unknown option(s) in {source}: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    config = BenchConfig()
    for name, value in values.items():
        if value is None:
            continue
        if name in ("models", "upsample", "backends", "heads", "outputs"):
            value = [str(v) for v in _as_list(value, name)]
        elif name == "sizes":
            value = [_as_int(v, "sizes") for v in _as_list(value, name)]
        elif name in _INTEGERS:
            value = _as_int(value, name)
        elif name == "out":
            value = Path(value)
        setattr(config, name, value)
    return check(config)


def check(config: BenchConfig) -> BenchConfig:
    from edgeseg.models import list_models

    available = list_models()
    config.models = config.models or available
    for name in config.models:
        if name not in available:
            raise EdgesegError(f"unknown model {name!r}; choose from {', '.join(available)}")
    for mode in config.upsample:
        if mode not in UPSAMPLE_MODES:
            raise EdgesegError(f"--upsample takes {' and/or '.join(UPSAMPLE_MODES)}, got {mode!r}")
    for name, allowed in (("heads", HEADS), ("outputs", OUTPUTS)):
        for value in getattr(config, name):
            if value not in allowed:
                raise EdgesegError(f"--{name} takes {' and/or '.join(allowed)}, got {value!r}")
    for name in config.backends:
        if name not in BACKENDS:
            raise EdgesegError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    if not (config.models and config.upsample and config.backends and config.sizes and config.heads and config.outputs):
        raise EdgesegError(
            "nothing to measure: --models, --upsample, --heads, --outputs, --backends and --sizes must not be empty"
        )
    for size in config.sizes:
        if size < 32:
            raise EdgesegError(f"sizes must be at least 32 pixels, got {size}")
    for name, low in (("batch", 1), ("runs", 1), ("warmup", 0), ("e2e_frames", 0), ("calib_images", 1)):
        if getattr(config, name) < low:
            raise EdgesegError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(config, name)}")
    if config.threads is not None and config.threads < 1:
        raise EdgesegError(f"--threads must be at least 1, got {config.threads}")
    if config.num_classes < 2:
        raise EdgesegError(f"--classes must be at least 2 (background included), got {config.num_classes}")
    if config.out.exists() and not config.out.is_dir():
        raise EdgesegError(f"--out {config.out} is a file; pass a folder for results.json, report.md and charts")
    return config


def head_kwargs(model: str, heads: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(head label, builder arguments) per head to measure: DeepLabV3+'s chosen heads, or ("", {}) for a
    model with one head."""
    from edgeseg.models.registry import accepts

    if not accepts(model, "separable"):
        return [("", {})]
    return [(head, {"separable": head == "separable"}) for head in heads]
