"""A real ONNX model whose mask is its input's red channel: a measuring instrument for what a command read.

images (1×3×32×32, RGB, normalized with mean 0 and std 1, so x = value / 255) → one 1×1 Conv → logits
(1×255×32×32) with logit_k = 2·k·value − k², whose argmax over k is the red value itself (0–254; 255 reads as
254). An image of at most 32×32 pixels with one side of 32 sits in the letterboxed input unscaled, so the mask
a command saves holds, pixel for pixel, the red channel it handed to pre-processing: two commands that read a
file differently save different masks, where a trained model's mask would hide a difference of one level.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SIZE = 32
LEVELS = 255  # classes 0–254: a mask holds at most 255 classes (255 is the dataset's ignore index)


def write_pixel_probe(path: Path) -> Path:
    """Write the probe to `path` (opset 17) with edgeseg's metadata, and return it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    levels = np.arange(LEVELS, dtype=np.float32)
    weights = np.zeros((LEVELS, 3, 1, 1), np.float32)
    weights[:, 0, 0, 0] = 2 * 255 * levels  # x·255 = the red value
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "w", "b"], ["logits"], name="probe")],
        "red_channel_probe",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, LEVELS, SIZE, SIZE])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(-(levels**2), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgeseg-tests")
    model.ir_version = 8
    metadata = {
        "model": "red_channel_probe",
        "model_config": {},
        "class_names": [f"red{k}" for k in range(LEVELS)],
        "palette": [[k, k, k] for k in range(LEVELS)],
        "input_size": [SIZE, SIZE],
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "resize": "letterbox",
        "upsample": "bilinear",
        "versions": {"onnx": onnx.__version__},
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = "edgeseg.metadata", json.dumps(metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def red_of(bgr: np.ndarray) -> np.ndarray:
    """The mask the probe gives for a BGR image: its red channel, 255 read as 254."""
    return np.minimum(bgr[..., 2], LEVELS - 1).astype(np.uint8)
