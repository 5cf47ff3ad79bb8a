"""Option parsing shared by several commands."""

from __future__ import annotations

import dataclasses
from typing import Any

from edgeseg.schema import Field, check_value


def parse_size(text: str, option: str = "--size", low: int = 1) -> tuple[int, int]:
    """'512' → (512, 512); '384x640' → (384, 640) as height × width; else an OptionError naming `option`."""
    height, width = check_value("size", Field("size", low=low, option=option), text)
    return (height, width)


def given_options(schema: dict[str, Field], arguments: dict[str, Any]) -> dict[str, Any]:
    """The options a command was given, keyed by the schema's field names.

    `arguments` are the command function's own (its `locals()` before anything else is bound); each field's
    parameter is its command-line spelling (`option`, else `--field-name`) in Python form. None means not given,
    so a YAML file's value or the config class's default stands.
    """
    given = {}
    for name, field in schema.items():
        value = arguments.get((field.option or name).lstrip("-").replace("-", "_"))
        if value is not None:
            given[name] = value
    return given


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
