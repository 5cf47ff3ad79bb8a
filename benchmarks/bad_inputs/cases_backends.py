"""Hostile-input cases: backends (OpenVINO devices, files OpenVINO cannot read, provider and precision options) and
ONNX files from other tools that `edgeseg import` refuses (NHWC, several inputs, a dynamic size without --size,
another class count, files it must not overwrite).

The foreign graphs are built here with onnx.helper (no edgeseg metadata, an input called "input"), as bytes the
sweep writes into the case's folder. Placeholders as in cases_artifacts.py.
"""

from __future__ import annotations

from typing import Any

IMAGES = "{data}/VOCdevkit/VOC2012/JPEGImages"
RUN = ["run", "--model", "{onnx}", "--source", IMAGES, "--no-show"]
CLASSES4 = {"classes.txt": "background\ncircle\nrectangle\ntriangle\n"}


def _foreign(kind: str) -> bytes:
    """A small foreign segmentation graph: "nhwc" (N×H×W×3 input), "two-inputs", "dynamic" (H and W named, not
    fixed) or "five-classes" (a fixed 1×3×32×32 input, five output channels)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    classes = 5 if kind == "five-classes" else 4
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(0, 0.5, (classes, 3, 3, 3)).astype(np.float32), "w")]
    h, w = ("h", "w") if kind == "dynamic" else (32, 32)
    image = "input"
    nodes: list[Any] = []
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])]
    if kind == "nhwc":
        inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 32, 32, 3])]
        nodes.append(helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]))
        image = "nchw"
    if kind == "two-inputs":
        inputs.append(helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 1, 32, 32]))
        nodes.append(helper.make_node("Add", ["input", "depth"], ["mixed"]))
        image = "mixed"
    nodes.append(helper.make_node("Conv", [image, "w"], ["output"], pads=[1, 1, 1, 1]))
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, classes, h, w])
    graph = helper.make_graph(nodes, kind, inputs, [output], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="another-tool")
    model.ir_version = 8
    return model.SerializeToString()


def _import(source: str, *extra: str) -> list[str]:
    mean, std = "123.675,116.28,103.53", "58.395,57.12,57.375"
    return ["import", source, "--classes", "{tmp}/classes.txt", "--mean", mean, "--std", std, *extra]


CASES: list[dict] = [
    # OpenVINO: a device it does not know, one this machine lacks, a file it cannot read, options that do not fit
    {"name": "backends-run-openvino-unknown-device", "args": [*RUN, "--provider", "openvino:XPU"],
     "expect": "unknown OpenVINO device 'XPU'"},
    {"name": "backends-run-openvino-no-npu", "args": [*RUN, "--provider", "openvino:NPU"],
     "expect": "OpenVINO finds no NPU on this machine"},
    {"name": "backends-run-openvino-text-as-onnx",
     "args": ["run", "--model", "{tmp}/model.onnx", "--source", IMAGES, "--no-show", "--provider", "openvino"],
     "files": {"model.onnx": "not a model\n"}, "expect": "OpenVINO cannot read"},
    {"name": "backends-eval-openvino-text-as-onnx",
     "args": ["eval", "{tmp}/model.onnx", "--data", "{data}", "--provider", "openvino"],
     "files": {"model.onnx": "not a model\n"}, "expect": "OpenVINO cannot read"},
    {"name": "backends-run-openvino-on-a-checkpoint",
     "args": ["run", "--model", "{ckpt}", "--source", IMAGES, "--no-show", "--provider", "openvino"],
     "expect": "--provider openvino is for .onnx files"},
    {"name": "backends-run-openvino-foreign-onnx",
     "args": ["run", "--model", "{tmp}/foreign.onnx", "--source", IMAGES, "--no-show", "--provider", "openvino"],
     "files": {"foreign.onnx": _foreign("dynamic")}, "expect": "edgeseg import"},
    {"name": "backends-run-provider-unknown", "args": [*RUN, "--provider", "gpu"],
     "expect": "--provider must be one of"},
    {"name": "backends-run-precision-unknown", "args": [*RUN, "--provider", "openvino", "--precision", "fp16"],
     "expect": "--precision must be one of f32, bf16, f16"},
    {"name": "backends-run-precision-on-onnxruntime", "args": [*RUN, "--provider", "cpu", "--precision", "bf16"],
     "expect": "--precision is OpenVINO's precision hint"},
    {"name": "backends-eval-precision-on-a-checkpoint",
     "args": ["eval", "{ckpt}", "--data", "{data}", "--precision", "bf16"], "expect": "--precision is for an .onnx"},
    # edgeseg import: foreign files that fail the checks, and outputs it must not overwrite
    {"name": "backends-import-nhwc", "args": _import("{tmp}/m.onnx", "--out", "{tmp}/out.onnx"),
     "files": {"m.onnx": _foreign("nhwc"), **CLASSES4}, "expect": "channels last (NHWC)"},
    {"name": "backends-import-two-inputs", "args": _import("{tmp}/m.onnx", "--out", "{tmp}/out.onnx"),
     "files": {"m.onnx": _foreign("two-inputs"), **CLASSES4}, "expect": "has 2 inputs"},
    {"name": "backends-import-dynamic-size", "args": _import("{tmp}/m.onnx", "--out", "{tmp}/out.onnx"),
     "files": {"m.onnx": _foreign("dynamic"), **CLASSES4}, "expect": "its size is dynamic: pass --size"},
    {"name": "backends-import-class-count", "args": _import("{tmp}/m.onnx", "--out", "{tmp}/out.onnx"),
     "files": {"m.onnx": _foreign("five-classes"), **CLASSES4}, "expect": "outputs 5 classes but --classes lists 4"},
    {"name": "backends-import-text-as-onnx", "args": _import("{tmp}/m.onnx", "--out", "{tmp}/out.onnx"),
     "files": {"m.onnx": "not a model\n", **CLASSES4}, "expect": "cannot read"},
    {"name": "backends-import-no-classes-file",
     "args": ["import", "{onnx}", "--classes", "{tmp}/none.txt", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5",
              "--out", "{tmp}/out.onnx"],
     "expect": "--classes {tmp}/none.txt not found"},
    {"name": "backends-import-out-exists", "args": _import("{tmp}/m.onnx", "--out", "{tmp}/taken.onnx"),
     "files": {"m.onnx": _foreign("five-classes"), "taken.onnx": "mine\n", **CLASSES4},
     "expect": "exists; pass --force to replace it"},
    {"name": "backends-import-onto-itself", "args": _import("{tmp}/m.onnx", "--out", "{tmp}/m.onnx"),
     "files": {"m.onnx": _foreign("five-classes"), **CLASSES4}, "expect": "is the model itself"},
    {"name": "backends-import-mean-scales-mixed",
     "args": ["import", "{tmp}/m.onnx", "--classes", "{tmp}/classes.txt", "--mean", "123.675,116.28,103.53",
              "--std", "0.229,0.224,0.225", "--out", "{tmp}/out.onnx"],
     "files": {"m.onnx": _foreign("five-classes"), **CLASSES4}, "expect": "look like different scales"},
    {"name": "backends-import-bad-palette",
     "args": _import("{tmp}/m.onnx", "--palette", "{tmp}/p.txt", "--out", "{tmp}/o.onnx"),
     "files": {"m.onnx": _foreign("five-classes"), "p.txt": "255,0\n", **CLASSES4}, "expect": "is not R,G,B"},
]  # fmt: skip
