"""edgeseg metadata inside ONNX files (`metadata_props`), readable without onnx or torch."""

from __future__ import annotations

import json
from typing import Any

from edgeseg.errors import EdgesegError

KEY = "edgeseg.metadata"


def embed(proto: Any, metadata: dict[str, Any]) -> None:
    """Set (or replace) the metadata entry of an onnx.ModelProto."""
    for prop in list(proto.metadata_props):
        if prop.key == KEY:
            proto.metadata_props.remove(prop)
    entry = proto.metadata_props.add()
    entry.key, entry.value = KEY, json.dumps(metadata, sort_keys=True)


def parse(custom_metadata: dict[str, str], source: str) -> dict[str, Any]:
    """The metadata dict from an ONNX model's key/value map (as ONNX Runtime or onnx reports it)."""
    if KEY not in custom_metadata:
        raise EdgesegError(
            f"{source} carries no edgeseg metadata (no {KEY!r} in its metadata_props); "
            f"export it with `edgeseg export CHECKPOINT`"
        )
    return json.loads(custom_metadata[KEY])
