"""Writing edgeseg metadata into ONNX files (`metadata_props`); runtime/metadata.py reads it back."""

from __future__ import annotations

import json
from typing import Any

from edgeseg.runtime.metadata import ONNX_KEY


def embed(proto: Any, metadata: dict[str, Any]) -> None:
    """Set (or replace) the metadata entry of an onnx.ModelProto."""
    for prop in list(proto.metadata_props):
        if prop.key == ONNX_KEY:
            proto.metadata_props.remove(prop)
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_KEY, json.dumps(metadata, sort_keys=True)
