"""Checks of an ONNX graph before it is trusted: interface, and Resize semantics (docs/architecture.md, rule 4)."""

from __future__ import annotations

from typing import Any

from edgeseg.errors import EdgesegError
from edgeseg.runtime.metadata import CONFIDENCE_NAME

# PyTorch's align_corners=False is "half_pixel"; TensorRT and ONNX Runtime agree on it. pytorch_half_pixel
# differs only for outputs of length 1. align_corners / asymmetric shift a bilinear resize by up to a pixel
# between frameworks, the classic source of PyTorch ↔ TensorRT mismatch at object borders.
SAFE_MODES = {"half_pixel"}
TOLERATED_MODES = {"pytorch_half_pixel"}


class GraphError(EdgesegError):
    """An ONNX graph edgeseg will not export or build."""


def _attribute(node: Any, name: str, default: Any) -> Any:
    for attr in node.attribute:
        if attr.name == name:
            value = attr.s if attr.type == attr.STRING else attr.i
            return value.decode() if isinstance(value, bytes) else value
    return default


def check_resize_nodes(proto: Any, strict: bool = True) -> list[str]:
    """Raise on a bilinear/bicubic Resize that is not half-pixel; return warnings for tolerated ones.

    strict=False (a graph from another tool, `edgeseg import`): such a Resize is a warning too. Its graph is what its
    author trained; TensorRT ≥ 8.5 implements every coordinate mode, but the engine's accuracy is worth checking.
    """
    warnings = []
    for node in proto.graph.node:
        if node.op_type != "Resize":
            continue
        mode = _attribute(node, "mode", "nearest")
        transform = _attribute(node, "coordinate_transformation_mode", "half_pixel")
        if mode == "nearest" or transform in SAFE_MODES:
            continue
        if transform in TOLERATED_MODES:
            warnings.append(f"Resize {node.name} uses {transform}; half_pixel is what every backend agrees on")
            continue
        if not strict:
            warnings.append(
                f"Resize {node.name} is {mode} with coordinate_transformation_mode={transform} (align_corners=True "
                f"in PyTorch), which backends have disagreed on: check the engine with `edgeseg eval model.engine`"
            )
            continue
        raise GraphError(
            f"Resize node {node.name!r} is {mode} with coordinate_transformation_mode={transform}: PyTorch, "
            f"ONNX Runtime and TensorRT disagree on it; build the model with align_corners=False"
        )
    return warnings


def check_interface(proto: Any, source: str) -> tuple[str, str]:
    """One float input N×3×H×W and one output: N×C×H×W float logits or an N×H×W int32 class map (which may
    have the N×H×W float confidence of `edgeseg export --confidence` beside it); returns their names."""
    initializers = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    outputs = list(proto.graph.output)

    def dims(value: Any) -> list:
        return [d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim]

    if len(outputs) == 2 and outputs[1].name == CONFIDENCE_NAME:
        shape, kind = dims(outputs[1]), outputs[1].type.tensor_type.elem_type
        if len(shape) != 3 or kind != 1 or dims(outputs[0]) != shape:  # TensorProto.FLOAT, the class map's shape
            raise GraphError(
                f"{source}: its {CONFIDENCE_NAME} output is {shape}, expected N×H×W float32 beside the class map"
            )
        outputs = outputs[:1]
    if len(inputs) != 1 or len(outputs) != 1:
        raise GraphError(
            f"{source} has {len(inputs)} input(s) and {len(outputs)} output(s); an edgeseg model has one "
            f"image input (N×3×H×W) and one logits output (N×C×H×W)"
        )
    shape_in, shape_out = dims(inputs[0]), dims(outputs[0])
    out_type = outputs[0].type.tensor_type.elem_type
    class_map = len(shape_out) == 3 and out_type == 6  # TensorProto.INT32
    if len(shape_in) != 4 or shape_in[1] != 3 or not (len(shape_out) == 4 or class_map):
        raise GraphError(
            f"{source}: input {inputs[0].name} is {shape_in} and output {outputs[0].name} is {shape_out}; "
            f"expected N×3×H×W in and N×C×H×W logits (or an N×H×W int32 class map) out"
        )
    if inputs[0].type.tensor_type.elem_type != 1:  # TensorProto.FLOAT
        raise GraphError(f"{source}: input {inputs[0].name} must be float32 (images are normalized floats)")
    return inputs[0].name, outputs[0].name
