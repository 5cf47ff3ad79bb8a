"""7-bit INT8 weights for OpenVINO on CPUs without VNNI, so that the integer convolutions do not saturate.

Without VNNI (AVX2, or AVX-512 before Cascade Lake) oneDNN multiplies INT8 with `vpmaddubsw`: unsigned 8-bit
activations times signed 8-bit weights, each pair of products added into a saturating 16-bit integer. Two products
of 255 × 127 (64 770) do not fit in 32 767, and the model.int8.onnx's symmetric activations are shifted to 0–255
for this instruction, so any large activation meets any large weight. The result is silently wrong: a crafted
convolution with weights ±126 and activations at their top gives values off by 35 on a range of 35
(tests/runtime/test_openvino_int8.py), and the separable DeepLabV3+ at 512² loses 0.5 points of argmax agreement
against ONNX Runtime running the same file (benchmarks/results/openvino_cpu_512.md).

The fix is the one NNCF ("overflow fix") and ONNX Runtime (`reduce_range`) apply when they quantize: weights in
7 bits, so that 255 × 63 × 2 = 32 130 fits. Here it is applied to the graph OpenVINO read, as it loads, so that the
one model.int8.onnx stays 8-bit for TensorRT and every CPU with VNNI: each weight's integers are halved
(rounded, clipped to −64…63) and its scale doubled, which is the same weight at half the resolution. Only the
operations that add products in pairs get it: convolutions (grouped ones too), transposed convolutions and
matrix products. Depthwise convolutions keep their 8 bits: the same crafted values come out exact there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# OpenVINO's operations whose INT8 kernels add pairs of u8 × s8 products in 16 bits where the CPU has no VNNI;
# a GroupConvolution only where its groups have more than one input channel (not depthwise).
PAIRWISE_INT8_OPS = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul")
# What may stand between a dequantization's constants and the Subtract/Multiply that use them.
_PASS_THROUGH = ("Reshape", "Convert", "Unsqueeze", "Squeeze")


def needs_7bit_weights(device: str, vnni: bool) -> bool:
    """Whether OpenVINO may run the model on this CPU's INT8 kernels without VNNI: a device that is or may pick the
    CPU (CPU, AUTO, MULTI:…,CPU, HETERO:…,CPU) on a CPU not known to have VNNI."""
    name = device.upper()
    return not vnni and ("CPU" in name or name.split(":")[0] == "AUTO")


def _adds_pairs(op: Any) -> bool:
    if op.get_type_name() == "GroupConvolution":  # weights: groups × outputs per group × inputs per group × k × k
        inputs_per_group = op.get_input_partial_shape(1)[2]
        return not inputs_per_group.is_static or inputs_per_group.get_length() > 1
    return op.get_type_name() in PAIRWISE_INT8_OPS


def _constant_under(node: Any) -> Any:
    while node.get_type_name() in _PASS_THROUGH:
        node = node.input_value(0).get_node()
    return node if node.get_type_name() == "Constant" else None


def _weight_dequantization(op: Any, ov: Any) -> tuple[Any, Any, Any] | None:
    """(the Convert of the INT8 weights, the Constant of those weights, the Constant of their scale) where `op`'s
    weights are OpenVINO's form of a symmetric DequantizeLinear: Constant(i8) → Convert [→ Subtract(0)] →
    Multiply(scale) [→ Reshape]; None for weights in float or with a zero point."""
    node = op.input_value(1).get_node()
    while node.get_type_name() in ("Reshape", "Transpose"):
        node = node.input_value(0).get_node()
    if node.get_type_name() != "Multiply":
        return None
    convert, scale = node.input_value(0).get_node(), _constant_under(node.input_value(1).get_node())
    if convert.get_type_name() == "Subtract":
        zero_point = _constant_under(convert.input_value(1).get_node())
        if zero_point is None or np.any(zero_point.get_data() != 0):
            return None
        convert = convert.input_value(0).get_node()
    if convert.get_type_name() != "Convert" or scale is None:
        return None
    weights = convert.input_value(0).get_node()
    if weights.get_type_name() != "Constant" or weights.get_output_element_type(0) != ov.Type.i8:
        return None
    if any(len(c.output(0).get_target_inputs()) > 1 for c in (weights, scale)):
        return None  # shared with another operation, which the rewrite would change as well
    return convert, weights, scale


def halve_int8_weights(model: Any, ov: Any) -> int:
    """Rewrite `model`'s INT8 weights of `PAIRWISE_INT8_OPS` to 7 bits in place; returns how many were."""
    rewritten = 0
    for op in model.get_ops():
        if not _adds_pairs(op):
            continue
        found = _weight_dequantization(op, ov)
        if found is None:
            continue
        convert, weights, scale = found
        halved = np.clip(np.round(weights.get_data().astype(np.float32) / 2), -64, 63).astype(np.int8)
        convert.input(0).replace_source_output(ov.op.Constant(halved).output(0))
        doubled = (scale.get_data() * 2).astype(scale.get_data().dtype)
        scale.output(0).replace(ov.op.Constant(doubled).output(0))
        rewritten += 1
    return rewritten
