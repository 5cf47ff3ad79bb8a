"""A small segmentation ONNX graph built with onnx.helper: no torch, so a Jetson can run the tests using it.

images (N×3×32×32 float32) → Conv 3×3 stride 2 → Relu → Conv 1×1 → bilinear Resize ×2 (half_pixel) →
logits (N×3×32×32), with edgeseg's metadata in metadata_props, as `edgeseg export` writes it; with
output="classes", ArgMax over the classes and a Cast to int32 follow: classes (N×32×32 int32), the default
output of `edgeseg export`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CLASSES = ["background", "square", "disc"]
SIZE = 32


def write_tiny_onnx(
    path: Path, dynamic_batch: bool = False, seed: int = 0, batch: int = 1, output: str = "logits"
) -> Path:
    """Write the graph to `path` (opset 17, which every TensorRT from 8.5 reads) and return it.

    batch: the fixed batch of the input and output (unless dynamic_batch)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    batch_dim: int | str = "N" if dynamic_batch else batch
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.5, (len(CLASSES), 8, 1, 1)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(len(CLASSES), np.float32), "b2"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="classifier"),
        helper.make_node(
            "Resize", ["c2", "", "scales"], ["logits"], mode="linear",
            coordinate_transformation_mode="half_pixel", name="upsample",
        ),
    ]  # fmt: skip
    result = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch_dim, len(CLASSES), SIZE, SIZE])
    if output == "classes":
        nodes += [
            helper.make_node("ArgMax", ["logits"], ["argmax"], axis=1, keepdims=0, name="argmax"),
            helper.make_node("Cast", ["argmax"], ["classes"], to=TensorProto.INT32, name="cast"),
        ]
        result = helper.make_tensor_value_info("classes", TensorProto.INT32, [batch_dim, SIZE, SIZE])
    graph = helper.make_graph(
        nodes,
        "tiny_segmentation",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch_dim, 3, SIZE, SIZE])],
        [result],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgeseg-tests")
    model.ir_version = 8  # what onnx 1.12 / TensorRT 8.5's parser read
    metadata = {
        "model": "tiny_onnx_helper",
        "model_config": {},
        "class_names": CLASSES,
        "palette": [[0, 0, 0], [220, 20, 60], [0, 128, 255]],
        "input_size": [SIZE, SIZE],
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "resize": "resize",
        "upsample": "bilinear",
        "versions": {"onnx": onnx.__version__},
        "output": output,
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = "edgeseg.metadata", json.dumps(metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_images(folder: Path, count: int = 4, seed: int = 0) -> Path:
    """A few 48×64 PNGs of coloured shapes: calibration images and a `--source` folder."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        image = np.full((48, 64, 3), rng.integers(0, 80), np.uint8)
        cv2.rectangle(image, (5 + i, 5), (30, 30), (0, 0, 255), -1)
        cv2.circle(image, (45, 30 - i), 10, (255, 128, 0), -1)
        cv2.imwrite(str(folder / f"frame{i:02d}.png"), image)
    return folder


def write_wide_onnx(path: Path, size: int, channels: int = 32, depth: int = 3, seed: int = 0) -> Path:
    """A stack of 3×3 convolutions with ReLU at full resolution, `channels` wide, then a 1×1 classifier: few
    weights, large activations (each `channels`×`size`² float32), what makes calibration memory show.

    images (1×3×size×size) → [Conv 3×3 → Relu] × depth → Conv 1×1 → logits (1×3×size×size).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights, nodes, previous, width = [], [], "images", 3
    for i in range(depth):
        weights += [
            numpy_helper.from_array(rng.normal(0, 0.3, (channels, width, 3, 3)).astype(np.float32), f"w{i}"),
            numpy_helper.from_array(rng.normal(0, 0.1, (channels,)).astype(np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node("Conv", [previous, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1], name=f"conv{i}"),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}"),
        ]
        previous, width = f"r{i}", channels
    weights.append(numpy_helper.from_array(rng.normal(0, 0.3, (len(CLASSES), width, 1, 1)).astype(np.float32), "wc"))
    nodes.append(helper.make_node("Conv", [previous, "wc"], ["logits"], name="classifier"))
    graph = helper.make_graph(
        nodes,
        "wide_stack",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, len(CLASSES), size, size])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgeseg-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
