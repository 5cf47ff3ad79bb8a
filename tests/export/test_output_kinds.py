"""Argmax in the graph (`--output classes`) against the logits graph, and the INT8 accuracy guard."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from edgeseg.export.onnx_export import export_onnx
from edgeseg.export.steps import ExportOptions, ParityFailure, run_export
from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgeseg.runtime.metadata import ONNX_KEY


def _meta(path):
    return json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}[ONNX_KEY])


@pytest.mark.parametrize("opset", [17, 18])
def test_in_graph_argmax_equals_argmax_of_the_logits(tiny_checkpoint, tmp_path, opset):
    from edgeseg.train.checkpoint import model_from_checkpoint

    model, meta, _ = model_from_checkpoint(tiny_checkpoint)
    for kind in ("logits", "classes"):
        export_onnx(model, meta, tmp_path / f"{kind}.onnx", opset=opset, output=kind, log=lambda m: None)
        assert _meta(tmp_path / f"{kind}.onnx")["output"] == kind
    proto = onnx.load(str(tmp_path / "classes.onnx"))
    (output,) = proto.graph.output
    assert output.name == "classes" and output.type.tensor_type.elem_type == TensorProto.INT32
    assert [d.dim_value for d in output.type.tensor_type.shape.dim] == [1, 32, 32]
    assert "ArgMax" in {n.op_type for n in proto.graph.node}
    rng = np.random.default_rng(0)
    logits_path, classes_path = tmp_path / "logits.onnx", tmp_path / "classes.onnx"
    with OnnxRuntimeBackend(logits_path, provider="cpu") as logits_model, OnnxRuntimeBackend(
        classes_path, provider="cpu"
    ) as classes_model:
        for _ in range(4):
            x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
            logits = logits_model.infer({"images": x})["logits"]
            classes = classes_model.infer({"images": x})["classes"]
            assert classes.dtype == np.int32
            np.testing.assert_array_equal(classes, logits.argmax(1))


def test_classes_export_reports_task_level_parity(tiny_checkpoint, tiny_dataset, tmp_path):
    report = run_export(
        ExportOptions(tiny_checkpoint, out=tmp_path, engine=False, fp16=True, verify=tiny_dataset), log=lambda m: None
    )
    fp32, fp16, *openvino = report["parity"]  # OpenVINO's rows follow where it is installed
    assert all(row["argmax_agreement"] > 0.99 for row in openvino)
    assert fp32["argmax_agreement"] >= 0.999 and abs(fp32["delta_mIoU"]) < 1e-3
    assert fp32["max_abs_diff"] is None  # class maps have no logits to diff
    assert fp16["argmax_agreement"] > 0.99
    assert _meta(tmp_path / "model.fp16.onnx")["output"] == "classes"


def _break_int8(path):
    """A deliberately broken INT8 file: the classifier's output channels rolled by one, so every pixel's
    scores go to the next class (per-channel weights, scales, zero points and biases alike)."""
    proto = onnx.load(str(path))
    for index, tensor in enumerate(proto.graph.initializer):
        if tensor.name.startswith("model.classifier."):
            rolled = np.roll(numpy_helper.to_array(tensor), 1, axis=0)
            proto.graph.initializer[index].CopyFrom(numpy_helper.from_array(rolled, tensor.name))
    onnx.save(proto, str(path))


def test_int8_guard_removes_a_broken_int8_file(tiny_checkpoint, tiny_dataset, tmp_path, monkeypatch):
    import edgeseg.export.precision as precision

    real = precision.quantize_int8

    def broken_quantize(fp32_path, out_path, calibration, input_name, **options):
        real(fp32_path, out_path, calibration, input_name, **options)
        _break_int8(out_path)

    monkeypatch.setattr(precision, "quantize_int8", broken_quantize)
    options = ExportOptions(
        tiny_checkpoint, out=tmp_path, engine=False, int8=True, calib=tiny_dataset, verify=tiny_dataset
    )
    with pytest.raises(ParityFailure, match=r"removed model\.int8\.onnx: INT8 loses .* mIoU points"):
        run_export(options, log=lambda m: None)
    assert not (tmp_path / "model.int8.onnx").exists()
    assert (tmp_path / "model.onnx").is_file()  # the FP32 file stands
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert "int8" not in report["files"] and "more than --max-int8-drop 1" in report["int8_refused"]


def _rounds_before_an_activation(path) -> bool:
    """Whether some ReLU/ReLU6 reads a dequantized tensor (ONNX Runtime's placement rounds the convolution's
    output before it) rather than the convolution's own output (TensorRT's placement, which fuses the two)."""
    proto = onnx.load(str(path))
    dequantized = {n.output[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    return any(n.op_type in ("Relu", "Clip") and n.input[0] in dequantized for n in proto.graph.node)


def test_int8_guard_keeps_a_good_int8_file(run_edgeseg, tiny_checkpoint, tiny_dataset, tmp_path):
    flags = ["--int8", "--calib", tiny_dataset, "--verify", tiny_dataset, "--no-engine", "--max-int8-drop", "100"]
    result = run_edgeseg("export", tiny_checkpoint, *flags, "--out", tmp_path / "trt")
    assert result.returncode == 0, result.stderr
    int8 = tmp_path / "trt" / "model.int8.onnx"
    assert int8.is_file() and not _rounds_before_an_activation(int8)
    assert _meta(int8)["export"]["int8_placement"] == "tensorrt"
    assert json.loads((tmp_path / "trt" / "export_report.json").read_text())["int8_placement"] == "tensorrt"
    cpu = run_edgeseg("export", tiny_checkpoint, *flags, "--int8-placement", "onnxruntime", "--out", tmp_path / "ort")
    assert cpu.returncode == 0, cpu.stderr
    assert _rounds_before_an_activation(tmp_path / "ort" / "model.int8.onnx")
    bad = run_edgeseg("export", tiny_checkpoint, "--output", "scores", "--out", tmp_path / "x")
    assert bad.returncode != 0 and "--output must be one of classes, logits, got 'scores'" in bad.stderr
    bad = run_edgeseg("export", tiny_checkpoint, "--int8-placement", "cpu", "--out", tmp_path / "x")
    assert bad.returncode != 0 and "--int8-placement must be one of tensorrt, onnxruntime, got 'cpu'" in bad.stderr
