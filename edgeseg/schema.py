"""One schema for option values: the type and range of each option, checked the same way wherever it comes from.

A value from the command line and the same value from a YAML config go through `check_value`, so a
bad one gets one line naming the option (`--batch-size`) or the field (`batch_size in train.yaml`),
what it must be, and what was given — never a ValueError from deep inside training or export.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgeseg.errors import EdgesegError

COMMAND_LINE = "command line"


class OptionError(EdgesegError):
    """An option value of the wrong type or out of range."""


@dataclass(frozen=True)
class Field:
    """What one option accepts.

    kind: int, float, bool, str, choice, size ([height, width], also "S" or "HxW"), ints, floats or strs
    (lists; a comma-separated string is read as one). low/high bound numbers (and each list item);
    low_open excludes `low` itself. option: the command-line spelling, if it differs from --field-name.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[Any, ...] = ()
    option: str | None = None
    optional: bool = False  # None is a valid value (meaning: the default)


def label(name: str, field: Field, source: str) -> str:
    """`--batch-size` for the command line; `batch_size in train.yaml` for a file."""
    if source == COMMAND_LINE:
        return field.option or "--" + name.replace("_", "-")
    return f"{name} in {source}"


def _range(field: Field) -> str:
    parts = []
    if field.low is not None:
        parts.append(f"{'>' if field.low_open else '≥'} {field.low:g}")
    if field.high is not None:
        parts.append(f"≤ {field.high:g}")
    return " and ".join(parts)


def _fail(name: str, field: Field, source: str, wanted: str, value: Any) -> OptionError:
    shown = f"{value!r} (text)" if isinstance(value, str) and field.kind in ("int", "float", "bool") else repr(value)
    return OptionError(f"{label(name, field, source)} must be {wanted}, got {shown}")


def _number(name: str, field: Field, source: str, value: Any, integer: bool) -> Any:
    wanted = ("a whole number" if integer else "a number") + (f" {_range(field)}" if _range(field) else "")
    given = value
    if isinstance(value, str):
        # The command line gives text, and YAML reads 1e-4 (no dot) as text too: numbers in text are numbers.
        value = _parse_scalar(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(name, field, source, wanted, given)
    if integer and not isinstance(value, int):
        raise _fail(name, field, source, wanted, given)
    if not math.isfinite(value):
        raise _fail(name, field, source, wanted, given)
    too_low = field.low is not None and (value <= field.low if field.low_open else value < field.low)
    if too_low or (field.high is not None and value > field.high):
        raise _fail(name, field, source, wanted, given)
    return int(value) if integer else float(value)


def _items(value: Any) -> Any:
    if isinstance(value, str):
        return [_parse_scalar(v.strip()) for v in value.split(",") if v.strip()]
    return value


def _parse_scalar(text: str) -> Any:
    """'3' → 3, '0.5' → 0.5, anything else stays text (then refused by the number check, with its name)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _size(name: str, field: Field, source: str, value: Any) -> list:
    wanted = "S, HxW or [height, width]" + (f" with each side {_range(field)}" if _range(field) else "")
    given = value
    if isinstance(value, str):
        parts = value.lower().replace("×", "x").split("x")
        value = [_parse_scalar(p.strip()) for p in parts]
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) not in (1, 2):
        raise _fail(name, field, source, wanted, given)
    side = Field("int", low=field.low, high=field.high)
    try:
        sides = [_number(name, side, source, v, integer=True) for v in value]
    except OptionError:
        raise _fail(name, field, source, wanted, given) from None
    return [sides[0], sides[-1]]


def check_value(name: str, field: Field, value: Any, source: str = COMMAND_LINE) -> Any:
    """The value, converted to what the option holds; or OptionError naming the option and the rule."""
    if value is None:
        if field.optional:
            return None
        raise _fail(name, field, source, "given", value)
    kind = field.kind
    if kind in ("int", "float"):
        return _number(name, field, source, value, integer=kind == "int")
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(name, field, source, "true or false", value)
        return value
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise _fail(name, field, source, "a non-empty text", value)
        return value
    if kind == "choice":
        if value not in field.choices:
            raise _fail(name, field, source, f"one of {', '.join(map(str, field.choices))}", value)
        return value
    if kind == "size":
        return _size(name, field, source, value)
    if kind in ("ints", "floats", "strs"):
        return _list(name, field, source, value)
    raise ValueError(f"schema field {name} has an unknown kind {kind!r}")  # a bug in a schema, not user input


def _list(name: str, field: Field, source: str, value: Any) -> list:
    kind = {"ints": "int", "floats": "float", "strs": "str"}[field.kind]
    item_field = Field(kind, low=field.low, high=field.high, low_open=field.low_open)
    items = _items(value) if kind != "str" else _strs(value)
    if not isinstance(items, (list, tuple)):
        items = [items]  # one value where a list is expected
    if not items:
        raise _fail(name, field, source, "a non-empty list", value)
    try:
        checked = [check_value(name, item_field, v, COMMAND_LINE) for v in items]
    except OptionError:
        wanted = f"a list of {'whole numbers' if kind == 'int' else 'numbers' if kind == 'float' else 'names'}" + (
            f" {_range(field)}" if _range(field) else ""
        )
        raise _fail(name, field, source, wanted, value) from None
    if field.choices:
        for item in checked:
            if item not in field.choices:
                raise _fail(name, field, source, f"made of {', '.join(map(str, field.choices))} only", item)
    return checked


def _strs(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def check_values(schema: dict[str, Field], values: dict[str, Any], source: str = COMMAND_LINE) -> dict[str, Any]:
    """Every value in `values` checked against `schema` (names it lacks are left to the caller)."""
    return {
        name: check_value(name, schema[name], value, source) if name in schema else value
        for name, value in values.items()
    }


def check_options(schema: dict[str, Field], **values: Any) -> None:
    """A command's own options, checked before it starts any work (None: not given, keep the default)."""
    for name, value in values.items():
        if value is not None:
            check_value(name, schema[name], value, COMMAND_LINE)


def said(words: str) -> dict[str, str]:
    """Dataclass field metadata: how a command's --help states a default that is not a value (an empty list,
    None meaning "the model's"); `edgeseg.cli.options.default_help` reads it."""
    return {"default": words}


def one_of(choices: Sequence[Any], option: str | None = None, optional: bool = False) -> Field:
    return Field("choice", choices=tuple(choices), option=option, optional=optional)
