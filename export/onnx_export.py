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
from edgeseg.runtime.metadata import CONFIDENCE_NAME, INPUT_NAME, OUTPUT_NAMES, ModelMetadata

DEFAULT_OPSET = 17  # TensorRT 8.6 (JetPack 5) reads up to opset 17
# Opsets an export can be asked for. From 11 on, Resize states its coordinate transform (align_corners=False
# needs half_pixel); 23 is the newest opset PyTorch's exporters write (torch.onnx's ONNX_MAX_OPSET).
OPSETS = range(11, 24)
DEFAULT_OUTPUT = "classes"  # what deploys fastest: no host-side argmax, 1/C of the bytes to copy back


def class_map_model(model: Any, confidence: bool = False) -> Any:
    """`model` with the argmax over classes in the graph: N×3×H×W → N×H×W int32 class indices.

    int32 because TensorRT's ArgMax (a TopK underneath) returns int32, which TensorRT 8.5 cannot cast to
    anything narrower; ONNX's ArgMax returns int64, so the Cast makes both runtimes return the same type.
    Ties resolve to the lowest class index, as numpy's and PyTorch's argmax do.

    confidence: also return the top class's softmax probability, N×H×W float32, as 1 / Σ exp(l − max l) (what
    `edgeseg.runtime.confidence.top_probability` computes on the host): numerically stable, one value per pixel
    instead of C, so an engine still hands back small tensors. The largest logit is gathered at the argmax the
    class map already found, and the sum over classes is a product with a row of ones (MatMul): ONNX Runtime's
    ReduceMax and ReduceSum over the class axis of N×C×H×W take 2.5 ms each at 21×256² on one CPU thread, this
    tail 1.4 ms in all (one Exp of every score is most of it), the earlier plane-by-plane Max and Add 2.1 ms.
    No Conv in the tail: INT8 export keeps everything after the last Conv in FP32 (`output_tail`).
    """
    torch = require("torch", "train")

    class ClassMap(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            logits = self.model(x)
            if not confidence:
                return logits.argmax(1).to(torch.int32)
            index = logits.argmax(1, keepdim=True)  # N×1×H×W
            exps = torch.exp(logits - logits.gather(1, index)).flatten(2)  # N×C×HW, each ≤ 1
            ones = torch.ones(1, exps.shape[1], dtype=exps.dtype, device=exps.device)
            total = torch.matmul(ones, exps).view_as(index)  # ≥ 1: the top class adds exp(0)
            return index.squeeze(1).to(torch.int32), torch.reciprocal(total).squeeze(1)

    return ClassMap().eval()


def opset_of(proto: Any) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _run_exporter(name: str, model: Any, dummy: Any, opset: int, dynamic_batch: bool, outputs: list[str]) -> Any:
    """The ModelProto one of torch.onnx's two exporters ("dynamo" or "torchscript") writes at `opset`."""
    torch, onnx = require("torch", "train"), require("onnx", "export")
    dynamo = name == "dynamo"
    buffer = io.BytesIO()
    if dynamo:
        shapes = ({0: torch.export.Dim("batch", min=1, max=64)},) if dynamic_batch else None
        particular: dict[str, Any] = {"dynamic_shapes": shapes, "verbose": False}
    else:
        axes = {name: {0: "batch"} for name in (INPUT_NAME, *outputs)} if dynamic_batch else None
        particular = {"f": buffer, "dynamic_axes": axes, "do_constant_folding": True}
    # Quiet: TracerWarnings about the padding branch (the size is fixed here), the dynamo exporter's progress.
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (dummy,),
            opset_version=opset,
            dynamo=dynamo,
            input_names=[INPUT_NAME],
            output_names=outputs,
            **particular,
        )
    return program.model_proto if dynamo else onnx.load_from_string(buffer.getvalue())


def _export_at(
    model: Any, dummy: Any, opset: int, dynamic_batch: bool, outputs: list[str], log: Callable[[str], None]
) -> tuple[Any, str]:
    """(proto, exporter name): the first exporter that writes exactly `opset`, or EdgesegError naming why none did.

    The dynamo exporter is tried first from opset 18 on, the TorchScript exporter below it.
    """
    names = ["dynamo", "torchscript"] if opset >= 18 else ["torchscript", "dynamo"]
    tried = []
    for name in names:
        try:
            candidate = _run_exporter(name, model, dummy, opset, dynamic_batch, outputs)
        except Exception as exc:
            tried.append(f"{name} exporter failed ({describe(exc)})")
            continue
        if opset_of(candidate) == opset:
            return candidate, name
        tried.append(f"the {name} exporter wrote opset {opset_of(candidate)} instead of {opset}")
        log(f"note: {tried[-1]}; trying the other exporter")
    raise EdgesegError(f"no exporter gives opset {opset} ({'; '.join(tried)}); pass another --opset")


def export_onnx(
    model: Any,
    metadata: ModelMetadata,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    output: str = DEFAULT_OUTPUT,
    confidence: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Export `model` at metadata.input_size to `path`; returns what was done (exporter, opset, warnings).

    output: "classes" puts the argmax in the graph (see `class_map_model`), "logits" keeps the raw scores
    (for Grad-CAM-style analysis or custom post-processing); the metadata records which. confidence: with
    "classes", a second output CONFIDENCE_NAME, the top class's probability (see `class_map_model`).

    If the exporter tried first writes another opset than asked (the dynamo exporter moves 17 to 18), the
    other is used, and the switch is said; if neither gives the opset, the export fails rather than change
    it silently.
    """
    torch, onnx = require("torch", "train"), require("onnx", "export")
    if output not in OUTPUT_NAMES:
        raise EdgesegError(f"--output must be one of {', '.join(OUTPUT_NAMES)}, got {output!r}")
    if confidence and output != "classes":
        raise EdgesegError(
            "--confidence adds the top class's probability beside a class map; from --output logits the runtime "
            "computes it on the host: leave --confidence out"
        )
    model = model.eval().cpu()
    if output == "classes":
        model = class_map_model(model, confidence)
    height, width = metadata.input_size
    dummy = torch.zeros(1, 3, height, width)
    outputs = [OUTPUT_NAMES[output], *([CONFIDENCE_NAME] if confidence else [])]
    proto, used = _export_at(model, dummy, opset, dynamic_batch, outputs, log)
    optimizer = require("onnxscript.optimizer", "export")
    proto = optimizer.optimize(proto)  # constant folding and dead-node removal; the opset stays
    warnings_found = check_resize_nodes(proto)
    check_interface(proto, str(path))
    embed(
        proto,
        {
            **metadata.to_dict(),
            "output": output,
            "confidence": confidence,
            "export": {
                "opset": opset,
                "exporter": used,
                "dynamic_batch": dynamic_batch,
                "torch": str(torch.__version__),
                "onnx": onnx.__version__,
            },
        },
    )
    _save_checked(proto, path)
    return {
        "exporter": used,
        "opset": opset,
        "output": output,
        "confidence": confidence,
        "warnings": warnings_found,
        "nodes": len(proto.graph.node),
    }


def _save_checked(proto: Any, path: str | Path) -> None:
    """`proto` written atomically to `path` once onnx.checker (full check) accepts it."""
    onnx = require("onnx", "export")
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise EdgesegError(f"the exported graph fails onnx.checker ({describe(exc)})") from exc
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
