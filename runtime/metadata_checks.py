"""Reading an artifact's metadata defensively: JSON that is damaged, nested without end, not UTF-8, or of the
wrong type or range, is one line naming the file and the field (docs/architecture.md, rule 7).

The ONNX file's `metadata_props` entry, the engine's JSON sidecar and a checkpoint's metadata all come from
files a user may have edited, copied half, or got from someone else. Checked where the artifact opens, a
damaged value cannot fail later in a worker thread or silently give wrong results (std 0: infinite inputs).
"""

from __future__ import annotations

import json
import math
import reprlib
from typing import Any, Callable, Dict, Tuple

from edgeseg.errors import EdgesegError

# What to do about a damaged artifact, by its suffix.
REMEDIES = {
    ".onnx": "export it again from its checkpoint (`edgeseg export CHECKPOINT`)",
    ".engine": "rebuild it with `edgeseg export model.onnx`",
    ".json": "rebuild its engine with `edgeseg export model.onnx`",
    ".pt": "it was edited or damaged: use a .pt that `edgeseg train` wrote",
}

# A check of one field: a predicate over the value, and what the value must be, in words.
Rule = Tuple[Callable[[Any], bool], str]
Rules = Dict[str, Rule]


class MetadataError(EdgesegError):
    """An artifact whose metadata is damaged, or of another shape than edgeseg writes."""


def remedy_for(source: str) -> str:
    """What to do about a damaged `source`, from its suffix."""
    for suffix, remedy in REMEDIES.items():
        if str(source).lower().endswith(suffix):
            return remedy
    return "make it again with edgeseg"


def _shortened() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 5, 4, 40, 40
    return short


_SHORT = _shortened()


def shown(value: Any) -> str:
    """`value` as a short repr: a damaged field may be a list of a million items, or nested 900 deep."""
    return _SHORT.repr(value)


def json_kind(value: Any) -> str:
    """What JSON calls the type of a parsed value."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "number"


def json_object(raw: str | bytes, subject: str, remedy: str) -> dict[str, Any]:
    """`raw` parsed as a JSON object, or one line saying what it is instead. subject: "<file>'s entry"."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte {exc.start} is {raw[exc.start]:#04x}"
            raise MetadataError(f"{subject} is not UTF-8 text ({where}); {remedy}") from None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise MetadataError(f"{subject} nests too deeply to be edgeseg's metadata; {remedy}") from None
    except ValueError as exc:
        raise MetadataError(f"{subject} is not valid JSON ({exc}); {remedy}") from None
    if not isinstance(data, dict):
        raise MetadataError(f"{subject} holds a JSON {json_kind(data)}, not an object; {remedy}")
    return data


def check_fields(values: dict[str, Any], rules: Rules, subject: str, remedy: str) -> dict[str, Any]:
    """`values` unchanged when every one with a rule keeps it, else MetadataError naming the first that does not."""
    for name, value in values.items():
        if name in rules:
            accepts, wanted = rules[name]
            if not accepts(value):
                raise MetadataError(f"{subject} '{name}' must be {wanted}, got {shown(value)}; {remedy}")
    return values


# Predicates the rules are made of. bool is an int in Python, never a number in metadata.
def is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def is_whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_list(value: Any, item: Callable[[Any], bool], length: int | None = None, least: int = 0) -> bool:
    if not isinstance(value, list) or len(value) < least or (length is not None and len(value) != length):
        return False
    return all(item(x) for x in value)


def is_text_map(value: Any, values: Callable[[Any], bool] = lambda v: True) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and values(v) for k, v in value.items())
