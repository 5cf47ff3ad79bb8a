"""`quantize_int8`'s choice of what stays FP32, on a real ONNX graph quantized by ONNX Runtime's tooling."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.export.precision import input_head, quantize_int8

from .tiny_onnx import write_tiny_onnx

pytest.importorskip("onnxruntime")


def _first_conv_weight(path):
    import onnx

    conv = next(n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv")
    return conv.input[1]


def test_input_head_keeps_the_first_convolutions_fp32(tmp_path):
    import onnx

    fp32 = write_tiny_onnx(tmp_path / "model.onnx")
    assert input_head(onnx.load(str(fp32)), 1) == [onnx.load(str(fp32)).graph.node[0].name]
    assert input_head(onnx.load(str(fp32)), 0) == []
    calibration = [np.random.default_rng(i).standard_normal((1, 3, 32, 32)).astype(np.float32) for i in range(4)]
    quantize_int8(fp32, tmp_path / "all.onnx", calibration, "images", keep_output_fp32=False)
    quantize_int8(fp32, tmp_path / "head.onnx", calibration, "images", fp32_input_convs=1)
    assert _first_conv_weight(tmp_path / "all.onnx") != "w1", "the first conv's weights are INT8 by default"
    assert _first_conv_weight(tmp_path / "head.onnx") == "w1", "kept FP32: its weights are the original ones"
