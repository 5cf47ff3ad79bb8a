"""7-bit INT8 weights for OpenVINO on CPUs without VNNI (runtime/backends/openvino_int8.py), through the real
OpenVINO and ONNX Runtime: a crafted QDQ convolution whose 8-bit weights saturate oneDNN's pairwise INT8 products
comes out exact once its weights have 7 bits."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("openvino")  # the `openvino` extra; CI installs it (.[all,dev]), a Jetson never does
pytest.importorskip("onnx")

import onnx
import openvino as ov
from onnx import TensorProto, helper, numpy_helper

from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgeseg.runtime.backends.openvino import OpenVinoBackend
from edgeseg.runtime.backends.openvino_int8 import halve_int8_weights, needs_7bit_weights
from edgeseg.runtime.cpu import cpu_facts
from edgeseg.runtime.metadata import ONNX_KEY
from tests.runtime.test_openvino import AMD_CPUINFO, INTEL_CPUINFO
from tests.small_metadata import small_metadata

CHANNELS, CLASSES, SIZE = 16, 3, 8
# Every input at the top of its INT8 range (1.27 / 0.01 = 127), where u8 × s8 pairs overflow 16 bits.
TOP = np.full((1, 3, SIZE, SIZE), 1.27, np.float32)


def write_qdq_conv(path, group: int = 1, seed: int = 0, weight_zero: int = 0):
    """images (1×3×8×8) → a float 1×1 convolution spreading them over 16 channels → QuantizeLinear →
    DequantizeLinear → an INT8 3×3 convolution with weights ±126 (even, so 7 bits hold them exactly) → logits,
    with edgeseg's metadata. group > 1: the INT8 convolution is grouped (group = 16: depthwise), then a float
    1×1 convolution makes the classes."""
    per_group = CHANNELS // group
    outputs = CLASSES if group == 1 else CHANNELS
    signs = np.random.default_rng(seed).choice([-1, 1], size=(outputs, per_group, 3, 3))
    initializers = {
        "spread": np.ones((CHANNELS, 3, 1, 1), np.float32) / 3,
        "x_scale": np.float32(0.01),
        "x_zero": np.int8(0),
        "w_int8": (signs * 126).astype(np.int8),
        "w_scale": np.full((outputs,), 0.01, np.float32),
        "w_zero": np.full((outputs,), weight_zero, np.int8),
        "classify": np.ones((CLASSES, CHANNELS, 1, 1), np.float32) / CHANNELS,
    }
    last = "logits" if group == 1 else "grouped"
    nodes = [
        helper.make_node("Conv", ["images", "spread"], ["spread_out"]),
        helper.make_node("QuantizeLinear", ["spread_out", "x_scale", "x_zero"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w_int8", "w_scale", "w_zero"], ["w_dq"], axis=0),
        helper.make_node("Conv", ["x_dq", "w_dq"], [last], pads=[1, 1, 1, 1], group=group),
    ]
    if group > 1:
        nodes.append(helper.make_node("Conv", ["grouped", "classify"], ["logits"]))
    graph = helper.make_graph(
        nodes,
        "qdq_conv",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES, SIZE, SIZE])],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_KEY, json.dumps(small_metadata(("a", "b", "c"), SIZE).to_dict())
    onnx.save(model, str(path))
    return path


def logits(backend) -> np.ndarray:
    return backend.infer({"images": TOP})["logits"]


def test_7bit_weights_give_onnx_runtimes_exact_result(tmp_path):
    path = write_qdq_conv(tmp_path / "qdq.onnx")
    with OnnxRuntimeBackend(path, provider="cpu") as ort, OpenVinoBackend(path, weights_7bit=True, cache=False) as ov7:
        want, got = logits(ort), logits(ov7)
        assert ov7.weights_7bit == 1 and ov7.settings["int8_weights"] == "7-bit in 1 operations"
    assert np.abs(want).max() > 10  # large values: a saturated sum would show
    np.testing.assert_allclose(got, want, atol=1e-3)


@pytest.mark.skipif(cpu_facts().vnni, reason="this CPU has VNNI: its INT8 products do not saturate")
def test_8bit_weights_saturate_on_a_cpu_without_vnni(tmp_path):
    """The defect the rewrite fixes, shown where it exists: the same file with its 8-bit weights is wrong."""
    path = write_qdq_conv(tmp_path / "qdq.onnx")
    with OnnxRuntimeBackend(path, provider="cpu") as ort, OpenVinoBackend(path, weights_7bit=False, cache=False) as ov8:
        error = np.abs(logits(ov8) - logits(ort)).max()
        assert "int8_weights" not in ov8.settings
    assert error > 1


def test_grouped_convolutions_are_rewritten_and_depthwise_ones_kept(tmp_path):
    from openvino.frontend import FrontEndManager

    frontend = FrontEndManager().load_by_framework("onnx")
    for group, rewritten in ((1, 1), (2, 1), (CHANNELS, 0)):
        path = write_qdq_conv(tmp_path / f"group{group}.onnx", group=group)
        model = frontend.convert(frontend.load(str(path)))
        assert halve_int8_weights(model, ov) == rewritten, group
        with OnnxRuntimeBackend(path, provider="cpu") as ort, OpenVinoBackend(path, cache=False) as auto:
            np.testing.assert_allclose(logits(auto), logits(ort), atol=1e-3)  # right on this CPU either way


def test_weights_with_a_zero_point_are_left_alone(tmp_path):
    """Halving q − z would need z halved too; edgeseg's INT8 files are symmetric, so such weights are not ours."""
    from openvino.frontend import FrontEndManager

    frontend = FrontEndManager().load_by_framework("onnx")
    path = write_qdq_conv(tmp_path / "asymmetric.onnx", weight_zero=1)
    assert halve_int8_weights(frontend.convert(frontend.load(str(path))), ov) == 0


def test_float_weights_are_left_alone(tiny_onnx):
    with OpenVinoBackend(tiny_onnx, weights_7bit=True, cache=False) as ov_fp32:
        assert ov_fp32.weights_7bit == 0 and "int8_weights" not in ov_fp32.settings


def test_the_cpus_flags_decide(tmp_path, monkeypatch):
    path = write_qdq_conv(tmp_path / "qdq.onnx")
    for name, text, rewritten in (("amd", AMD_CPUINFO, 1), ("intel", INTEL_CPUINFO, 0)):
        (tmp_path / name).write_text(text)
        monkeypatch.setenv("EDGESEG_CPUINFO", str(tmp_path / name))
        with OpenVinoBackend(path, cache=False) as backend:
            assert backend.weights_7bit == rewritten, name


@pytest.mark.parametrize(
    "device, vnni, needed",
    [
        ("CPU", False, True),
        ("AUTO", False, True),  # AUTO starts on the CPU while a GPU compiles
        ("AUTO:GPU,CPU", False, True),
        ("HETERO:GPU,CPU", False, True),
        ("GPU", False, False),
        ("NPU", False, False),
        ("CPU", True, False),
    ],
)
def test_which_devices_need_7bit_weights(device, vnni, needed):
    assert needs_7bit_weights(device, vnni) is needed
