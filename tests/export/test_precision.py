"""`quantize_int8`'s choice of what stays FP32 and where its Q/DQ pairs go, on a real ONNX graph quantized by
ONNX Runtime's tooling."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.export.precision import input_head, multiply_adds, quantize_int8

from .tiny_onnx import write_tiny_onnx

pytest.importorskip("onnxruntime")


def _calibration() -> list[np.ndarray]:
    return [np.random.default_rng(i).standard_normal((1, 3, 32, 32)).astype(np.float32) for i in range(4)]


def _first_conv_weight(path):
    import onnx

    conv = next(n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv")
    return conv.input[1]


def _quantized_tensors(path) -> set[str]:
    import onnx

    return {n.input[0] for n in onnx.load(str(path)).graph.node if n.op_type == "QuantizeLinear"}


def test_multiply_adds_of_each_convolution(tmp_path):
    import onnx

    fp32 = write_tiny_onnx(tmp_path / "model.onnx")
    # conv1: 3×3×3 per output, 8 channels at 16×16; the classifier: 8 per output, 3 channels at 16×16.
    assert multiply_adds(onnx.load(str(fp32))) == {"conv1": 27 * 8 * 16 * 16, "classifier": 8 * 3 * 16 * 16}


def test_input_head_keeps_the_first_convolutions_fp32_while_they_are_cheap(tmp_path):
    import onnx

    fp32 = write_tiny_onnx(tmp_path / "model.onnx")
    proto = onnx.load(str(fp32))
    assert input_head(proto, 1) == ["conv1"]
    assert input_head(proto, 0) == []
    assert input_head(proto, 6, max_share=0.05) == [], "conv1 holds 90 % of the multiply-adds: too dear to keep"
    assert input_head(proto, 6, max_share=0.95) == ["conv1", "relu1"]
    calibration = _calibration()
    quantize_int8(fp32, tmp_path / "default.onnx", calibration, "images", keep_output_fp32=False)
    quantize_int8(fp32, tmp_path / "head.onnx", calibration, "images", fp32_input_convs=1, fp32_input_share=1.0)
    assert _first_conv_weight(tmp_path / "default.onnx") != "w1", "the first conv's weights are INT8 by default"
    assert _first_conv_weight(tmp_path / "head.onnx") == "w1", "kept FP32: its weights are the original ones"


def test_tensorrt_placement_quantizes_after_the_activation_not_before(tmp_path):
    fp32 = write_tiny_onnx(tmp_path / "model.onnx")
    calibration = _calibration()
    for placement in ("tensorrt", "onnxruntime"):
        quantize_int8(
            fp32, tmp_path / f"{placement}.onnx", calibration, "images", keep_output_fp32=False, placement=placement
        )
    # conv1 → c1 → relu1 → r1 → classifier: TensorRT fuses conv1 and relu1, so only r1 (and the input) is rounded.
    assert {"images", "r1"} <= _quantized_tensors(tmp_path / "tensorrt.onnx")
    assert "c1" not in _quantized_tensors(tmp_path / "tensorrt.onnx")
    assert "c1" in _quantized_tensors(tmp_path / "onnxruntime.onnx"), "ONNX Runtime's own placement rounds c1 too"
    with pytest.raises(ValueError, match="placement"):
        quantize_int8(fp32, tmp_path / "x.onnx", calibration, "images", placement="everywhere")
