"""INT8 keeps a model's elementwise fusions in FP32 (PIDNet's attention products and pyramid sums), read from the
exported graph whichever exporter wrote it, and leaves every other model's recipe alone."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from edgeseg.export import precision
from edgeseg.export.onnx_export import export_onnx
from edgeseg.export.precision import FUSION_OPS, float_fusions, module_path, quantize_int8
from edgeseg.models import build_model
from edgeseg.runtime.metadata import INPUT_NAME
from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
from edgeseg.train.checkpoint import make_metadata


def _export(name: str, folder, size: int = 64):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3).eval()
    meta = make_metadata(model, ("bg", "a", "b"), (size, size), IMAGENET_MEAN, IMAGENET_STD, "letterbox")
    path = folder / f"{name}.onnx"
    export_onnx(model, meta, path, log=lambda m: None)
    return path


@pytest.fixture(scope="module")
def pidnet(tmp_path_factory):
    return _export("pidnet_s", tmp_path_factory.mktemp("pidnet"))


def _quantized_products(path, folder, name) -> dict[str, bool]:
    """Each attention product (a Mul of PIDNet's fusions) of the INT8 file: whether every input is dequantized,
    i.e. whether the product itself runs on INT8 values."""
    calibration = [np.random.default_rng(i).standard_normal((1, 3, 64, 64)).astype(np.float32) for i in range(3)]
    out = folder / name
    quantize_int8(path, out, calibration, INPUT_NAME)
    graph = onnx.load(str(out)).graph
    producers = {o: n.op_type for n in graph.node for o in n.output}
    return {
        node.name: all(producers.get(i) == "DequantizeLinear" for i in node.input)
        for node in graph.node
        if node.op_type == "Mul" and ("/pag" in node.name or "/dfm/" in node.name)
    }


def test_pidnets_fusions_are_found_by_module(pidnet):
    fused = float_fusions(onnx.load(str(pidnet)), "pidnet_s")
    nodes = {n.name: n for n in onnx.load(str(pidnet)).graph.node}
    scopes = {tuple(module_path(nodes[name])[:3]) for name in fused}
    assert {("model", "backbone", "pag3"), ("model", "backbone", "pag4"), ("model", "dfm")} <= scopes
    assert any(s[:2] == ("model", "spp") for s in scopes)
    assert fused and all(nodes[name].op_type in FUSION_OPS for name in fused)  # their convolutions stay INT8
    assert sum(nodes[name].op_type == "Mul" for name in fused) >= 5


def test_int8_keeps_pidnets_attention_products_in_fp32(pidnet, tmp_path, monkeypatch):
    after = _quantized_products(pidnet, tmp_path, "after.onnx")
    monkeypatch.setattr(precision, "FLOAT_FUSIONS", {})
    before = _quantized_products(pidnet, tmp_path, "before.onnx")
    assert before and all(before.values())  # without the rule every product multiplies INT8 values
    assert after.keys() == before.keys() and not any(after.values())


def test_other_models_keep_their_recipe(tmp_path):
    proto = onnx.load(str(_export("deeplabv3plus_mobilenetv2", tmp_path)))
    assert float_fusions(proto, "deeplabv3plus_mobilenetv2") == []
    assert float_fusions(proto, "") == []  # an imported file without edgeseg's model name


def test_the_dynamo_exporters_name_scopes_are_read():
    node = onnx.helper.make_node("Mul", ["a", "b"], ["c"], name="node_mul_7")
    entry = node.metadata_props.add()
    entry.key, entry.value = "pkg.torch.onnx.name_scopes", "['', 'model', 'backbone', 'pag4', 'mul']"
    assert module_path(node) == ["model", "backbone", "pag4"]
    graph = onnx.helper.make_graph([node], "g", [], [])
    assert float_fusions(onnx.helper.make_model(graph), "pidnet_m") == ["node_mul_7"]
    torchscript = onnx.helper.make_node("Mul", ["a", "b"], ["c"], name="/model/spp/scale1/scale1.0/Mul")
    assert module_path(torchscript) == ["model", "spp", "scale1", "scale1.0"]
