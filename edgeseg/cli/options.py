"""Option handling shared by several commands."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

import typer

from edgeseg.schema import Field, check_value


def parse_size(text: str, option: str = "--size", low: int = 1) -> tuple[int, int]:
    """'512' → (512, 512); '384x640' → (384, 640) as height × width; else an OptionError naming `option`."""
    height, width = check_value("size", Field("size", low=low, option=option), text)
    return (height, width)


def given_options(
    ctx: typer.Context, *, leave_out: Collection[str] = (), rename: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The command's options by the name of the settings field they set, without those not given.

    Options whose default is None mean "not given: keep the config file's or the library's default", so
    they are left out; `leave_out` drops options that are no setting (--config, --resume), and `rename`
    maps an option to its field where the names differ (bench's --classes sets num_classes). One dict built
    from the command's own parameters, so a new option cannot be forgotten in a hand-written copy.
    """
    rename = rename or {}
    return {rename.get(k, k): v for k, v in ctx.params.items() if v is not None and k not in leave_out}


def default_help(config_class: type, name: str) -> str:
    """'[default: …]' for a help text, read from the config dataclass's field `name`, so the default is stated
    where it is set: the field's metadata "default" words where the value needs saying in words (an empty list
    meaning every model, None meaning every core), else the value itself (a list comma-separated)."""
    found = {f.name: f for f in dataclasses.fields(config_class)}[name]
    if "default" in found.metadata:
        return f"[default: {found.metadata['default']}]"
    value = found.default if found.default is not dataclasses.MISSING else found.default_factory()
    shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return f"[default: {shown}]"
