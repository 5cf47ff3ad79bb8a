"""The Python API (`edgeseg.load`) on real artifacts: an exported ONNX file, a checkpoint, a TensorRT engine
through the FakeTensorRT / FakeCuda test doubles (no TensorRT or GPU here), and README's example, executed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeseg
from edgeseg.api import Model
from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends import open_model
from edgeseg.runtime.backends.tensorrt import TensorRTBackend
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.segmenter import Segmenter

from ..export.fake_tensorrt import FakeCuda, FakeTensorRT

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A 60×90 BGR scene of the kind the tiny model was trained on."""
    from edgeseg.data.synth import synth_image

    rgb = synth_image(np.random.default_rng(11), 60, 90, 4)[0]
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def test_onnx_mask_and_metadata(tiny_onnx, tiny_checkpoint, image):
    import torch

    with edgeseg.load(tiny_onnx, provider="cpu", threads=1) as seg:
        mask = seg(image)
        meta = seg.metadata
    saved = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)["metadata"]
    assert isinstance(meta, ModelMetadata)
    assert meta.class_names == saved["class_names"] and meta.palette == saved["palette"]
    assert meta.input_size == [32, 32]
    assert mask.shape == image.shape[:2] and mask.dtype == np.uint8
    assert mask.max() < meta.num_classes
    backend = open_model(tiny_onnx, provider="cpu")
    with backend:  # what `edgeseg run` computes for the same frame
        np.testing.assert_array_equal(mask, Segmenter(backend)(image))


def test_color_order_is_explicit(tiny_onnx, image, tmp_path):
    rgb = np.ascontiguousarray(image[..., ::-1])
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image)
    with edgeseg.load(tiny_onnx) as seg:
        bgr_mask = seg(image)
        np.testing.assert_array_equal(seg(rgb, color="rgb"), bgr_mask)
        np.testing.assert_array_equal(seg(path), bgr_mask)
        np.testing.assert_array_equal(seg(str(path)), bgr_mask)
        bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
        np.testing.assert_array_equal(seg(bgra), bgr_mask)
        assert seg(image[..., 0]).shape == image.shape[:2]  # gray is accepted
        with pytest.raises(EdgesegError, match="color must be 'bgr' or 'rgb', got 'RGB'"):
            seg(image, color="RGB")


def test_checkpoint_agrees_with_its_onnx_export(tiny_checkpoint, tiny_onnx, image):
    with edgeseg.load(tiny_checkpoint) as torch_seg, edgeseg.load(tiny_onnx) as onnx_seg:
        agreement = (torch_seg(image) == onnx_seg(image)).mean()
        for field in ("class_names", "palette", "input_size", "mean", "std", "resize", "model"):
            assert getattr(torch_seg.metadata, field) == getattr(onnx_seg.metadata, field), field
    assert agreement > 0.99


def test_overlay_colours_classes_and_leaves_background(tiny_onnx, image):
    with edgeseg.load(tiny_onnx) as seg:
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[10:30, 20:50] = 2
        out = seg.overlay(image, mask)
        red, green, blue = seg.metadata.palette[2]
        expected = cv2.addWeighted(image, 0.7, np.full_like(image, (blue, green, red)), 0.3, 0)
        np.testing.assert_array_equal(out[mask == 0], image[mask == 0])
        np.testing.assert_array_equal(out[mask == 2], expected[mask == 2])
        rgb_out = seg.overlay(np.ascontiguousarray(image[..., ::-1]), mask, color="rgb")
        np.testing.assert_array_equal(rgb_out, out[..., ::-1])
        with pytest.raises(EdgesegError, match=r"the mask must be uint8 \(60, 90\).*got uint8 \(30, 45\)"):
            seg.overlay(image, mask[::2, ::2])


def test_stream_yields_each_frame_with_its_mask(tiny_onnx, tiny_video, tmp_path, image):
    with edgeseg.load(tiny_onnx) as seg:
        pairs = list(seg.stream(str(tiny_video)))
        assert len(pairs) == 40
        frame, mask = pairs[7]
        assert frame.shape == (72, 96, 3) and mask.shape == (72, 96)
        np.testing.assert_array_equal(mask, seg(frame))
        assert len(list(seg.stream(tiny_video, max_frames=5))) == 5
        folder = tmp_path / "images"
        folder.mkdir()
        for name in ("b.png", "a.png"):
            cv2.imwrite(str(folder / name), image)
        (rgb_frame, rgb_mask), _ = list(seg.stream(str(folder), color="rgb"))
        np.testing.assert_array_equal(rgb_frame, image[..., ::-1])
        np.testing.assert_array_equal(rgb_mask, seg(image))


def test_context_manager_frees_the_device(tmp_path, image):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"serialized")
    metadata = {"model": "fake", "model_config": {}, "class_names": ["background", "thing"]}
    metadata |= {"palette": [[0, 0, 0], [255, 0, 0]], "input_size": [8, 8], "mean": [0.5] * 3, "std": [0.5] * 3}
    metadata |= {"resize": "letterbox", "upsample": "bilinear"}
    sidecar = {**metadata, "tensorrt": "10.3.0", "gpu": "Fake Orin", "compute_capability": "8.7"}
    (tmp_path / "model.engine.json").write_text(json.dumps(sidecar))
    cuda = FakeCuda()
    backend = TensorRTBackend(engine, trt=FakeTensorRT("10.3.0", cuda=cuda), cuda=cuda, log=lambda m: None)
    with Model(backend, name="model.engine") as seg:
        mask = seg(image)
        assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 1}
        assert cuda.allocated and not cuda.freed
    assert sorted(cuda.freed) == sorted(cuda.allocated) and cuda.released
    with pytest.raises(EdgesegError, match=r"model\.engine was closed"):
        seg(image)


def test_engine_without_tensorrt_says_what_to_install(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"serialized")
    (tmp_path / "model.engine.json").write_text(json.dumps({"tensorrt": "10.3.0", "input_size": [8, 8]}))
    with pytest.raises(EdgesegError, match="TensorRT is not installed"):
        edgeseg.load(engine)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((20, 20, 3), np.float32), "expected a uint8 image"),
        (np.zeros((20, 20, 2), np.uint8), r"expected an H×W×3 image, got shape \(20, 20, 2\)"),
        ([[0, 1]], "expected an image array .* got list"),
        ("missing.jpg", "cannot read image missing.jpg"),
    ],
)
def test_bad_images_fail_clearly(tiny_onnx, bad, message):
    with edgeseg.load(tiny_onnx) as seg, pytest.raises(EdgesegError, match=message):
        seg(bad)


def test_missing_model(tmp_path):
    with pytest.raises(EdgesegError, match="model not found"):
        edgeseg.load(tmp_path / "nope.onnx")


def test_onnx_loads_without_torch_and_import_stays_light(run_python_without, tiny_onnx):
    code = (
        "import sys, numpy as np, edgeseg\n"
        "assert not any(m.split('.')[0] in {'torch', 'cv2', 'onnxruntime'} for m in sys.modules), sys.modules\n"
        f"seg = edgeseg.load({str(tiny_onnx)!r})\n"
        "print(seg(np.zeros((40, 50, 3), np.uint8)).shape, seg.metadata.input_size, seg)\n"
    )
    done = run_python_without(code, blocked=("torch", "torchvision", "onnx"))
    assert done.returncode == 0, done.stderr
    assert "(40, 50) [32, 32] <edgeseg model model.onnx: deeplabv3plus_mobilenetv2, 4 classes, 32×32>" in done.stdout


def test_checkpoint_without_torch_says_what_to_install(run_python_without, tiny_checkpoint):
    code = f"import edgeseg\nedgeseg.load({str(tiny_checkpoint)!r})\n"
    done = run_python_without(code, blocked=("torch",))
    assert done.returncode == 1
    assert "MissingDependencyError: torch is not installed" in done.stderr
    assert "pip install 'edgeseg[train]'" in done.stderr


def test_readme_example_runs(tiny_onnx, tiny_video, image, tmp_path):
    readme = (REPO / "README.md").read_text()
    example = re.search(r"<!-- api-example -->\n```python\n(.*?)```", readme, re.S).group(1)
    shutil.copy(tiny_onnx, tmp_path / "model.onnx")
    cv2.imwrite(str(tmp_path / "image.jpg"), image)
    capture = cv2.VideoCapture(str(tiny_video))
    writer = cv2.VideoWriter(str(tmp_path / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 72))
    for _ in range(6):
        writer.write(capture.read()[1])
    writer.release()
    capture.release()
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("['background'") and lines[0].endswith("[32, 32]")
    assert len(lines) == 1 + 6 and all(line.endswith("of the frame is foreground") for line in lines[1:])
    overlay = cv2.imread(str(tmp_path / "overlay.jpg"))
    assert overlay is not None and overlay.shape == image.shape
