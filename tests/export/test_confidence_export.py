"""`edgeseg export --confidence`: the top class's probability as a second graph output beside the class map, and
every backend giving the same confidence (ONNX Runtime, PyTorch, TensorRT through its test double)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from edgeseg.export.onnx_export import class_map_model
from edgeseg.export.steps import ExportOptions, run_export
from edgeseg.runtime.backends import open_model
from edgeseg.runtime.backends.tensorrt import TensorRTBackend
from edgeseg.runtime.confidence import top_probability
from edgeseg.runtime.segmenter import NoConfidence, Segmenter
from edgeseg.train.checkpoint import model_from_checkpoint
from tests.bad_input import assert_refused, snapshot

from ..small_metadata import small_metadata
from .fake_tensorrt import FakeCuda, FakeTensorRT


@pytest.fixture(scope="module")
def exports(tiny_checkpoint, tiny_onnx_confidence, tmp_path_factory):
    """The tiny checkpoint exported three ways: classes + confidence (with its FP16 file), and logits."""
    out = tmp_path_factory.mktemp("logits")
    run_export(ExportOptions(tiny_checkpoint, out=out, engine=False, output="logits"), log=lambda m: None)
    return {
        "confidence": tiny_onnx_confidence,
        "fp16": tiny_onnx_confidence.with_name("model.fp16.onnx"),
        "logits": out / "model.onnx",
    }


@pytest.fixture(scope="module")
def frame():
    from edgeseg.data.synth import synth_image

    return cv2.cvtColor(synth_image(np.random.default_rng(5), 50, 70, 4)[0], cv2.COLOR_RGB2BGR)


def test_the_graph_returns_the_class_map_and_its_confidence(exports, tiny_checkpoint):
    import onnx

    proto = onnx.load(str(exports["confidence"]))
    assert [o.name for o in proto.graph.output] == ["classes", "confidence"]
    props = json.loads({p.key: p.value for p in proto.metadata_props}["edgeseg.metadata"])
    assert props["output"] == "classes" and props["confidence"] is True
    model, _, _ = model_from_checkpoint(tiny_checkpoint)
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(x)).numpy()[0]
    with open_model(exports["confidence"], provider="cpu") as backend:
        assert backend.metadata.confidence and backend.output_names == ["classes", "confidence"]
        out = backend.infer({"images": x})
    assert out["confidence"].dtype == np.float32 and out["confidence"].shape == (1, 32, 32)
    np.testing.assert_array_equal(out["classes"][0], logits.argmax(0))
    np.testing.assert_allclose(out["confidence"][0], top_probability(logits), atol=1e-5)


@pytest.mark.parametrize("classes", [2, 21, 150])
def test_the_graphs_confidence_is_the_hosts(classes):
    """The graph's tail (the top logit gathered at the argmax, the sum as a product with ones) gives the host's
    top-class probability and argmax under ONNX Runtime, from two classes to ADE20K's 150."""
    import io

    import onnxruntime as ort

    torch.manual_seed(classes)
    head = torch.nn.Conv2d(3, classes, 1)
    x = 4 * torch.randn(1, 3, 16, 24)
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(class_map_model(head, confidence=True), (x,), buffer, opset_version=17, dynamo=False)
        logits = head(x).numpy()[0]
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    classes_out, confidence = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_array_equal(classes_out[0], logits.argmax(0))
    np.testing.assert_allclose(confidence[0], top_probability(logits), rtol=1e-5)
    assert confidence.min() < 0.9  # the classes compete somewhere: the sum over planes is tested, not one term


def test_every_backend_gives_the_same_confidence(exports, tiny_checkpoint, frame):
    results = {}
    for name, path in [("pytorch", tiny_checkpoint), *exports.items()]:
        with open_model(path, provider="cpu") if path.suffix == ".onnx" else open_model(path) as backend:
            segmenter = Segmenter(backend)
            tensor, placement = segmenter.prepare(frame)
            output = segmenter.infer_outputs(tensor)
            results[name] = (segmenter.finish(output.scores, placement), segmenter.confidence(output, placement))
    reference_mask, reference = results["pytorch"]
    assert reference.shape == frame.shape[:2] and reference.dtype == np.float32
    assert reference.min() > 0 and reference.max() <= 1 and reference.std() > 0  # varies: the comparison means a lot
    for name, (mask, confidence) in results.items():
        tolerance = 2e-2 if name == "fp16" else 1e-4
        np.testing.assert_allclose(confidence, reference, atol=tolerance, err_msg=name)
        assert (mask == reference_mask).mean() > 0.99, name


def test_tensorrt_engine_of_a_confidence_export_returns_it(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"serialized")
    meta = {**small_metadata().to_dict(), "output": "classes", "confidence": True}
    sidecar = {"tensorrt": "10.3.0", "gpu": "Fake Orin", "compute_capability": "8.7", "onnx": "model.onnx", **meta}
    (tmp_path / "model.engine.json").write_text(json.dumps(sidecar))
    cuda = FakeCuda()
    trt = FakeTensorRT("10.3.0", cuda=cuda, confidence=True)
    with TensorRTBackend(engine, trt=trt, cuda=cuda, log=lambda m: None) as backend:
        segmenter = Segmenter(backend)
        assert segmenter.has_confidence and backend.output_names == ["classes", "confidence"]
        image = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
        tensor, placement = segmenter.prepare(image)
        output = segmenter.infer_outputs(tensor)
        logits = np.stack([tensor[0, 0] * (c + 1) for c in range(2)])  # what the double's network computes
        np.testing.assert_allclose(segmenter.confidence(output, placement), top_probability(logits), rtol=1e-6)
        assert output.scores.dtype == np.int32 and segmenter.finish(output.scores, placement).shape == (8, 8)


def test_a_class_map_without_confidence_says_how_to_get_one(tiny_onnx):
    with open_model(tiny_onnx, provider="cpu") as backend:
        segmenter = Segmenter(backend)
        assert not segmenter.has_confidence
        tensor, placement = segmenter.prepare(np.zeros((20, 20, 3), np.uint8))
        with pytest.raises(NoConfidence, match="edgeseg export CHECKPOINT --confidence"):
            segmenter.confidence(segmenter.infer_outputs(tensor), placement)


def test_confidence_options_that_cannot_work_are_refused(run_edgeseg, tiny_checkpoint, tiny_onnx, tmp_path):
    before = snapshot(tmp_path)
    logits = run_edgeseg("export", tiny_checkpoint, "--confidence", "--output", "logits", "--out", tmp_path / "x")
    assert_refused(logits, "leave --confidence out", before, tmp_path)
    copy = tmp_path / "plain.onnx"
    copy.write_bytes(tiny_onnx.read_bytes())
    before = snapshot(tmp_path)
    fixed = run_edgeseg("export", copy, "--confidence", "--no-engine")
    assert_refused(fixed, "has no confidence output", before, tmp_path)


def test_int8_keeps_the_confidence_tail_in_fp32(tiny_onnx_confidence, tmp_path):
    """The tail's MatMul, Exp and Sub are quantizable: INT8 export must leave them FP32 (`output_tail` walks from
    both outputs to the classifier), or the probabilities would be rounded to 8 bits."""
    import onnx

    from edgeseg.export.precision import quantize_int8

    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(4)]
    quantized = tmp_path / "model.int8.onnx"
    quantize_int8(tiny_onnx_confidence, quantized, calibration, "images")
    graph = onnx.load(str(quantized)).graph
    producers = {output: node for node in graph.node for output in node.output}
    behind, frontier = [], ["confidence"]
    while frontier:  # every node between the confidence output and the last convolution
        node = producers.get(frontier.pop())
        if node is None or node in behind:
            continue
        behind.append(node)
        if node.op_type != "Conv":
            frontier += list(node.input)
    kinds = {node.op_type for node in behind}
    assert {"MatMul", "Exp", "GatherElements"} <= kinds
    assert not kinds & {"QuantizeLinear", "DequantizeLinear"}, kinds
