"""One registry of segmentation models, built by name with keyword-only arguments."""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

from edgeseg.errors import EdgesegError
from edgeseg.models.base import SegmentationModel

Builder = TypeVar("Builder", bound=Callable[..., SegmentationModel])

_REGISTRY: dict[str, Callable[..., SegmentationModel]] = {}


def register_model(builder: Builder) -> Builder:
    """Register a public builder under its function name; a name registered twice is a bug (as in torchvision)."""
    name = builder.__name__
    if name in _REGISTRY:
        raise ValueError(f"a model named {name!r} is already registered ({_REGISTRY[name].__module__})")
    _REGISTRY[name] = builder
    return builder


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def build_model(name: str, **kwargs: Any) -> SegmentationModel:
    """Build a registered model; its `config` (recorded by the model class) holds the name and every argument."""
    if name not in _REGISTRY:
        raise EdgesegError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    builder = _REGISTRY[name]
    signature = inspect.signature(builder)
    try:
        bound = signature.bind(**kwargs)
    except TypeError as exc:
        raise EdgesegError(f"{name}: {exc} (it takes {', '.join(signature.parameters)})") from exc
    bound.apply_defaults()
    return builder(**bound.arguments)


def rebuild_model(name: str, config: dict[str, Any]) -> SegmentationModel:
    """Build the model a recorded config describes (a checkpoint's `model_config`, minus "model").

    An argument added to a builder after the config was written is missing from it; the builder's
    `legacy_defaults` give the value that reproduces what was built then (not today's default).
    """
    return build_model(name, **{**legacy_defaults(name), **config})


def legacy_defaults(name: str) -> dict[str, Any]:
    """Arguments a builder gained later, with the values that reproduce models recorded before them."""
    return dict(getattr(_REGISTRY.get(name), "legacy_defaults", {}))


def accepts(name: str, argument: str) -> bool:
    """Whether the builder `name` takes `argument` (e.g. only DeepLabV3+ takes `separable`)."""
    return argument in inspect.signature(_REGISTRY[name]).parameters
