"""Reduced-precision ONNX variants: model.fp16.onnx and the statically quantized model.int8.onnx."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.atomic import atomic_path
from edgeseg.errors import require
from edgeseg.export.parity import ParityReport
from edgeseg.runtime.metadata import INT8_PLACEMENTS as PLACEMENTS
from edgeseg.runtime.metadata import ONNX_KEY as KEY

# Kept in FP32: reductions and exponentials overflow or lose precision in FP16 (a global average
# over a large map, a softmax); convolutions, BN-folded adds and resizes are safe in FP16.
FP16_KEEP_FP32 = [
    "ArgMax",
    "GlobalAveragePool",
    "ReduceMean",
    "ReduceSum",
    "Softmax",
    "Exp",
    "Log",
    "Pow",
    "Sqrt",
    "Div",
]


def _copy_metadata(source: object, target: object, precision: str, **export: str) -> None:
    for prop in source.metadata_props:
        if prop.key == KEY:
            data = json.loads(prop.value)
            data["export"] = {**data.get("export", {}), "precision": precision, **export}
            entry = target.metadata_props.add()
            entry.key, entry.value = KEY, json.dumps(data, sort_keys=True)


def _model_name(proto: object) -> str:
    """The registry name edgeseg's metadata gives the model ("" for a file without it)."""
    for prop in proto.metadata_props:
        if prop.key == KEY:
            return str(json.loads(prop.value).get("model", ""))
    return ""


def _drop_duplicate_nodes(graph: object) -> None:
    """The converter inserts one Cast per consumer of a shared FP32-only constant (Resize scales used by two
    Resize nodes), all with the same name and output: an invalid graph. Identical copies are dropped."""
    seen: set[bytes] = set()
    for node in list(graph.node):
        key = node.SerializeToString()
        if key in seen:
            graph.node.remove(node)
        seen.add(key)


def convert_fp16(fp32_path: str | Path, out_path: str | Path) -> None:
    """Weights and activations in FP16, inputs and outputs FP32, fragile ops FP32.

    This is the input TensorRT ≥ 11 needs for FP16 (it builds strongly typed networks only), and what
    ONNX Runtime's CUDA provider runs in half precision.
    """
    onnx = require("onnx", "export")
    float16 = require("onnxruntime.transformers.float16", "export")
    model = onnx.load(str(fp32_path))
    half = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=FP16_KEEP_FP32)
    _drop_duplicate_nodes(half.graph)
    del half.metadata_props[:]
    _copy_metadata(model, half, "fp16")
    with atomic_path(out_path) as tmp:
        onnx.save(half, str(tmp))


CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
# The input head `quantize_int8` keeps FP32 by default: up to 9 convolutions holding at most 5 % of the network's
# multiply-adds. On DeepLabV3+ that is MobileNetV2's stem and first three blocks with the dense head, the stem
# and first two with the separable one (a lighter head leaves the backbone a larger share); it lifts argmax
# agreement to 99.3–99.4 % on both (benchmarks/results/int8_accuracy.md).
FP32_INPUT_CONVS = 9
FP32_INPUT_SHARE = 0.05
ACTIVATIONS = ("Relu", "Clip")  # what TensorRT fuses into the convolution before them
# Left unquantized: a BatchNormalization no convolution absorbed (PIDNet's pre-activation BN → ReLU → conv). Its
# scale, bias, mean and variance must stay initializers: TensorRT's ONNX parser folds such a node into a per-channel
# scale only then (older parsers refuse it otherwise), and 8 bits would only round a per-channel affine map.
UNQUANTIZED = ("BatchNormalization",)


def output_tail(proto: object) -> list[str]:
    """Names of the nodes from the last convolution (the classifier) to the graph's output.

    Kept in FP32 by `quantize_int8`: an INT8 tensor there holds the class scores themselves, and 8 bits
    over the range of the largest logit round close scores to the same step, so argmax flips (ties go to
    the lowest class) along every object border. They are a few percent of the network's FLOPs.
    """
    producers = {output: node for node in proto.graph.node for output in node.output}
    tail, frontier = [], [o.name for o in proto.graph.output]
    while frontier:
        node = producers.get(frontier.pop())
        if node is None or node.name in tail:
            continue
        tail.append(node.name)
        if node.op_type != "Conv":
            frontier += [i for i in node.input if i in producers]
    return tail


# Modules, per model family (by registry name prefix), whose elementwise fusions stay FP32 in INT8 while their
# convolutions are quantized: PIDNet's pixel-attention (pag3, pag4) and boundary-attention (dfm) fusions multiply
# one quantized tensor by another and by a sigmoid of their product, and its pyramid (spp) sums and concatenates
# pooled maps, so each rounding there is multiplied, not added. The sensitivity analysis of a trained PIDNet-S
# (ONNX Runtime's qdq_loss_debug) found the lowest SQNR at exactly these Mul outputs; leaving their Mul, Add, Sub,
# Sigmoid, ReduceSum, Resize and Concat in FP32 took its argmax agreement from 96.5 to 98.5 % and ΔmIoU from
# −2.5 to +0.3 points (benchmarks/results/pidnet.md), at no convolution's cost.
FLOAT_FUSIONS = {"pidnet": ("backbone.pag3", "backbone.pag4", "dfm", "spp")}
FUSION_OPS = ("Mul", "Add", "Sub", "Sigmoid", "ReduceSum", "Resize", "Concat")


def module_path(node: object) -> list[str]:
    """The module a node of an exported graph came from, as attribute names: from the dynamo exporter's
    name-scope metadata, or from the TorchScript exporter's node name ("/model/backbone/pag4/Mul_1")."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            return list(ast.literal_eval(prop.value))[1:-1]  # a Python list's repr
    return node.name.strip("/").split("/")[:-1]


def float_fusions(proto: object, model: str) -> list[str]:
    """Names of the nodes `FLOAT_FUSIONS` keeps in FP32 for `model` (a registry name); none for other models."""
    scopes = next((scopes for family, scopes in FLOAT_FUSIONS.items() if model.startswith(family)), ())
    wanted = [["model", *scope.split(".")] for scope in scopes]  # the exported class map wraps the network
    return [
        node.name
        for node in proto.graph.node
        if node.op_type in FUSION_OPS and any(module_path(node)[: len(w)] == w for w in wanted)
    ]


def multiply_adds(proto: object) -> dict[str, int]:
    """Multiply-adds of each convolution node of an ONNX graph with a fixed input size, by node name."""
    onnx = require("onnx", "export")
    graph = onnx.shape_inference.infer_shapes(proto).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in [*graph.value_info, *graph.output]}
    weights = {w.name: list(w.dims) for w in graph.initializer}
    macs = {}
    for node in graph.node:
        if node.op_type == "Conv" and node.input[1] in weights and node.output[0] in shapes:
            per_output = int(np.prod(weights[node.input[1]][1:]))  # (C_in / groups) × k_h × k_w
            macs[node.name] = per_output * int(np.prod(shapes[node.output[0]][1:]))
    return macs


def input_head(proto: object, convs: int, max_share: float = 1.0) -> list[str]:
    """Names of the nodes from the input up to and including the `convs`-th convolution, in graph order,
    stopping before the convolutions so far would hold more than `max_share` of the graph's multiply-adds.

    What `quantize_int8` leaves in FP32 (FP16 in a TensorRT engine): on MobileNetV2, INT8 damages the stem's
    and the first blocks' depthwise convolutions most (lowest SQNR, benchmarks/results/int8_accuracy.md) and
    every later layer inherits that error, while they are a few percent of the network's multiply-adds. The
    share keeps the rule cheap everywhere: on unet_vgg16, whose first convolutions work at full resolution
    on 64 channels, it stops after the second (4.5 % of the multiply-adds; six would be 17 %).
    """
    macs = multiply_adds(proto) if max_share < 1.0 else {}
    budget = max_share * sum(macs.values())
    head: list[str] = []
    for node in proto.graph.node:
        if convs <= 0:
            break
        if node.op_type == "Conv":
            budget -= macs.get(node.name, 0)
            if budget < 0:
                break
            convs -= 1
        head.append(node.name)
    return head


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    calibration: Sequence[np.ndarray],
    input_name: str,
    *,
    method: str = "percentile",
    keep_output_fp32: bool = True,
    fp32_input_convs: int = FP32_INPUT_CONVS,
    fp32_input_share: float = FP32_INPUT_SHARE,
    exclude: Sequence[str] = (),
    placement: str = "tensorrt",
) -> None:
    """Static INT8 QDQ quantization calibrated on real images, with ONNX Runtime's tooling.

    Symmetric INT8 for weights (per channel) and activations: what TensorRT's explicit quantization
    accepts, so the same file serves ONNX Runtime CPU and an INT8 TensorRT build.
    placement: where Q/DQ pairs go (`PLACEMENTS`): "tensorrt" (the default) quantizes the inputs of each
        operator, never a convolution's output before its activation; "onnxruntime" is ONNX Runtime's own
        choice, which with symmetric activations also quantizes every pre-activation convolution output:
        less accurate, but ONNX Runtime's CPU kernels fuse it into integer convolutions, so it is the faster
        file on a CPU (benchmarks/results/ort_int8_latency_cpu_512.md).
    method: activation ranges from min/max, the 99.999th percentile of |x| (robust to the rare outliers
        that stretch a min/max range and waste its 256 steps), or entropy (KL) calibration.
    keep_output_fp32: leave the classifier and what follows it (resize, argmax) in FP32; see `output_tail`.
    fp32_input_convs, fp32_input_share: leave the nodes up to this many convolutions from the input in FP32,
        as long as they hold at most this share of the multiply-adds (`input_head`); 0 quantizes them too.
    exclude: names of further nodes to leave in FP32 (e.g. the ones a sensitivity analysis found), besides the
        model's own `FLOAT_FUSIONS` (read from the file's metadata).
    """
    onnx = require("onnx", "export")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if placement not in PLACEMENTS:
        raise ValueError(f"Q/DQ placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
    source = onnx.load(str(fp32_path))
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        proto = onnx.load(str(prepared))
        head = input_head(proto, fp32_input_convs, fp32_input_share)
        fusions = float_fusions(proto, _model_name(source))
        excluded = [*(output_tail(proto) if keep_output_fp32 else []), *head, *fusions, *exclude]
        quantized = Path(scratch) / "int8.onnx"
        _quantize_static(prepared, quantized, calibration, input_name, method, excluded, placement)
        model = onnx.load(str(quantized))
        del model.metadata_props[:]
        _copy_metadata(source, model, "int8", int8_placement=placement)
        with atomic_path(out_path) as tmp:
            onnx.save(model, str(tmp))


def _quantize_static(
    prepared: Path,
    quantized: Path,
    calibration: Sequence[np.ndarray],
    input_name: str,
    method: str,
    excluded: list[str],
    placement: str,
) -> None:
    """ONNX Runtime's static QDQ quantization with the symmetric settings `quantize_int8` documents, calibrated
    in bounded memory (`edgeseg.export.calibration`): one calibration image's activations at a time."""
    quantization = require("onnxruntime.quantization", "export")
    from edgeseg.export.calibration import CalibrationReader, bounded_calibration

    # The histogram calibrators print their progress with print(); an export reports its own steps.
    with bounded_calibration(), contextlib.redirect_stdout(io.StringIO()):
        quantization.quantize_static(
            str(prepared),
            str(quantized),
            CalibrationReader(calibration, input_name),
            **static_settings(method, excluded, placement),
        )


def static_settings(method: str, excluded: Sequence[str], placement: str) -> dict[str, Any]:
    """The keyword arguments `quantize_int8` gives ONNX Runtime's `quantize_static`, besides the files and the
    calibration reader."""
    quantization = require("onnxruntime.quantization", "export")
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    placed: dict[str, Any] = {}
    if placement == "tensorrt":
        # With symmetric activations ONNX Runtime keeps Relu/Clip as quantized ops and puts a Q/DQ pair on
        # their input, the convolution's raw output: half its 8 bits then cover negative values the activation
        # throws away, and the tensor is rounded twice. TensorRT fuses convolution, bias and activation and
        # quantizes after the activation (its Q/DQ placement guidance: quantize the inputs of operators, not
        # the outputs of weighted ones), so that is what this file holds: argmax agreement 97.1 → 98.7 % on
        # the separable DeepLabV3+ (benchmarks/results/int8_accuracy.md).
        placed = {
            "op_types_to_quantize": sorted(
                (set(QLinearOpsRegistry) | set(QDQRegistry)) - set(ACTIVATIONS) - set(UNQUANTIZED)
            ),
            "OpTypesToExcludeOutputQuantization": ["Conv", "ConvTranspose"],
        }
    methods = {
        "minmax": quantization.CalibrationMethod.MinMax,
        "percentile": quantization.CalibrationMethod.Percentile,
        "entropy": quantization.CalibrationMethod.Entropy,
    }
    return {
        "quant_format": quantization.QuantFormat.QDQ,
        "per_channel": True,
        "activation_type": quantization.QuantType.QInt8,
        "weight_type": quantization.QuantType.QInt8,
        "calibrate_method": methods[method],
        "nodes_to_exclude": list(excluded),
        "op_types_to_quantize": placed.get("op_types_to_quantize"),
        "extra_options": {
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "CalibPercentile": 99.999,
            "CalibTensorRangeSymmetric": True,
            "OpTypesToExcludeOutputQuantization": placed.get("OpTypesToExcludeOutputQuantization", []),
        },
    }


def int8_verdict(parity: ParityReport, max_drop: float) -> str | None:
    """Why an INT8 file must not be kept, or None when it keeps accuracy.

    max_drop: mIoU points (0–100) INT8 may lose against its FP32 reference on labelled images. Without
    labels there is no mIoU; then the share of pixels whose class changes may not exceed max_drop %.
    """
    if parity.delta_miou is not None:
        drop = -100 * parity.delta_miou
        if drop > max_drop:
            return (
                f"INT8 loses {drop:.2f} mIoU points against FP32 ({100 * parity.reference_miou:.2f} → "
                f"{100 * parity.candidate_miou:.2f}), more than --max-int8-drop {max_drop:g}; calibrate on more or "
                f"more representative images (--calib, --calib-images), or deploy FP16"
            )
        return None
    changed = 100 * (1 - parity.argmax_agreement)
    if changed > max_drop:
        return (
            f"INT8 changes the class of {changed:.2f}% of pixels against FP32, more than --max-int8-drop "
            f"{max_drop:g} (pass --verify DATA to judge by ΔmIoU); calibrate on more or more representative "
            f"images (--calib, --calib-images), or deploy FP16"
        )
    return None
