"""PyTorch model → ONNX at the requested opset, checked, simplified, with metadata embedded."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from edgeseg.atomic import atomic_path
from edgeseg.errors import EdgesegError, describe, require
from edgeseg.export.graph_checks import check_interface, check_resize_nodes
from edgeseg.export.onnx_metadata import embed

INPUT_NAME, OUTPUT_NAME = "images", "logits"
DEFAULT_OPSET = 17  # TensorRT 8.6 (JetPack 5) reads up to opset 17
# Opsets an export can be asked for. From 11 on, Resize states its coordinate transform (align_corners=False
# needs half_pixel); 23 is the newest opset PyTorch's exporters write (torch.onnx's ONNX_MAX_OPSET).
OPSETS = range(11, 24)


def opset_of(proto: Any) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _torchscript_export(model: Any, dummy: Any, opset: int, dynamic_batch: bool) -> Any:
    torch, onnx = require("torch", "train"), require("onnx", "export")
    buffer = io.BytesIO()
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about the padding branch: the size is fixed here
        torch.onnx.export(
            model,
            (dummy,),
            buffer,
            opset_version=opset,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            do_constant_folding=True,
        )
    return onnx.load_from_string(buffer.getvalue())


def _dynamo_export(model: Any, dummy: Any, opset: int, dynamic_batch: bool) -> Any:
    torch = require("torch", "train")
    shapes = ({0: torch.export.Dim("batch", min=1, max=64)},) if dynamic_batch else None
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (dummy,),
            opset_version=opset,
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=shapes,
            verbose=False,
        )
    return program.model_proto


def export_onnx(
    model: Any,
    metadata: dict[str, Any],
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Export `model` at metadata["input_size"] to `path`; returns what was done (exporter, opset, warnings).

    The dynamo exporter is preferred from opset 18 on, the TorchScript exporter below it. If the one
    tried first writes another opset than asked (the dynamo exporter moves 17 to 18), the other is used,
    and the switch is said; if neither gives the opset, the export fails rather than change it silently.
    """
    torch, onnx = require("torch", "train"), require("onnx", "export")
    model = model.eval().cpu()
    height, width = metadata["input_size"]
    dummy = torch.zeros(1, 3, height, width)
    exporters = [("dynamo", _dynamo_export), ("torchscript", _torchscript_export)]
    if opset < 18:
        exporters.reverse()
    proto, used, tried = None, None, []
    for name, exporter in exporters:
        try:
            candidate = exporter(model, dummy, opset, dynamic_batch)
        except Exception as exc:
            tried.append(f"{name} exporter failed ({describe(exc)})")
            continue
        if opset_of(candidate) == opset:
            proto, used = candidate, name
            break
        tried.append(f"the {name} exporter wrote opset {opset_of(candidate)} instead of {opset}")
        log(f"note: {tried[-1]}; trying the other exporter")
    if proto is None:
        raise EdgesegError(f"no exporter gives opset {opset} ({'; '.join(tried)}); pass another --opset")

    optimizer = require("onnxscript.optimizer", "export")
    proto = optimizer.optimize(proto)  # constant folding and dead-node removal; the opset stays
    warnings_found = check_resize_nodes(proto)
    check_interface(proto, str(path))
    embed(
        proto,
        {
            **metadata,
            "export": {
                "opset": opset,
                "exporter": used,
                "dynamic_batch": dynamic_batch,
                "torch": str(torch.__version__),
                "onnx": onnx.__version__,
            },
        },
    )
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise EdgesegError(f"the exported graph fails onnx.checker ({describe(exc)})") from exc
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return {"exporter": used, "opset": opset, "warnings": warnings_found, "nodes": len(proto.graph.node)}
