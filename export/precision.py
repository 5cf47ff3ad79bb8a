"""Reduced-precision ONNX variants: model.fp16.onnx and the statically quantized model.int8.onnx."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeseg.atomic import atomic_path
from edgeseg.errors import require
from edgeseg.runtime.metadata import ONNX_KEY as KEY

# Kept in FP32: reductions and exponentials overflow or lose precision in FP16 (a global average
# over a large map, a softmax); convolutions, BN-folded adds and resizes are safe in FP16.
FP16_KEEP_FP32 = ["GlobalAveragePool", "ReduceMean", "ReduceSum", "Softmax", "Exp", "Log", "Pow", "Sqrt", "Div"]


def _copy_metadata(source: object, target: object, precision: str) -> None:
    for prop in source.metadata_props:
        if prop.key == KEY:
            data = json.loads(prop.value)
            data["export"] = {**data.get("export", {}), "precision": precision}
            entry = target.metadata_props.add()
            entry.key, entry.value = KEY, json.dumps(data, sort_keys=True)


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


def quantize_int8(
    fp32_path: str | Path, out_path: str | Path, calibration: Sequence[np.ndarray], input_name: str
) -> None:
    """Static INT8 QDQ quantization calibrated on real images, with ONNX Runtime's tooling.

    Symmetric INT8 for weights (per channel) and activations: what TensorRT's explicit quantization
    accepts, so the same file serves ONNX Runtime CPU and an INT8 TensorRT build.
    """
    onnx = require("onnx", "export")
    quantization = require("onnxruntime.quantization", "export")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantized = Path(scratch) / "int8.onnx"
        quantization.quantize_static(
            str(prepared),
            str(quantized),
            Reader(),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QInt8,
            weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
        model = onnx.load(str(quantized))
        del model.metadata_props[:]
        _copy_metadata(onnx.load(str(fp32_path)), model, "int8")
        with atomic_path(out_path) as tmp:
            onnx.save(model, str(tmp))
