"""`seg.predict(image)` and `seg.results(source)`: the result object through the Python API, on real exports."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

import edgeseg
from edgeseg.runtime.result import SegmentationResult


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    from edgeseg.data.synth import synth_image

    return cv2.cvtColor(synth_image(np.random.default_rng(12), 60, 90, 4)[0], cv2.COLOR_RGB2BGR)


def test_predict_gives_the_mask_confidence_shares_and_polygons(tiny_onnx_confidence, image):
    with edgeseg.load(tiny_onnx_confidence) as seg:
        before = time.time()
        result = seg.predict(image)
        assert seg.has_confidence
        np.testing.assert_array_equal(result.mask, seg(image))  # what seg(image) returns, unchanged
        assert seg.predict(image, confidence=False).confidence is None
    assert isinstance(result, SegmentationResult) and before <= result.captured <= time.time()
    assert result.confidence.shape == image.shape[:2] and result.confidence.dtype == np.float32
    assert result.confidence.min() > 0 and result.confidence.max() <= 1
    shares = result.shares()
    assert list(shares) == seg.metadata.class_names and sum(shares.values()) == pytest.approx(1, abs=1e-5)
    assert set(result.polygons()) <= set(seg.metadata.class_names)
    assert set(result.seconds) == {"pre", "infer", "post"} and result.image is not None
    data = result.to_dict(polygons=True)
    assert json.loads(json.dumps(data)) == data and "confidence" in data and "polygons" in data


def test_a_class_map_without_confidence_gives_none(tiny_onnx, image, tmp_path):
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image)
    with edgeseg.load(tiny_onnx) as seg:
        result = seg.predict(path)
        assert not seg.has_confidence and result.confidence is None and result.name == "scene.png"
        np.testing.assert_array_equal(result.mask, seg(image))
        assert "confidence" not in result.to_dict()


def test_results_of_a_source_carry_index_name_and_time(tiny_onnx_confidence, tiny_video, tmp_path):
    with edgeseg.load(tiny_onnx_confidence) as seg:
        results = list(seg.results(str(tiny_video), max_frames=6))
        frames = [frame for frame, _ in seg.stream(str(tiny_video), max_frames=6)]
        folder = tmp_path / "photos"
        folder.mkdir()
        cv2.imwrite(str(folder / "a.png"), frames[0])
        (folder / "b.png").write_bytes(b"not an image")
        cv2.imwrite(str(folder / "c.png"), frames[1])
        from_folder = list(seg.results(str(folder), confidence=False))
    assert [r.index for r in results] == list(range(6)) and [r.name for r in results][:2] == ["000000", "000001"]
    assert all(a.captured <= b.captured for a, b in zip(results, results[1:]))
    assert all(set(r.seconds) == {"capture", "pre", "infer", "post"} for r in results)
    for result, frame in zip(results, frames):
        np.testing.assert_array_equal(result.image, frame)
        assert result.confidence is not None and result.to_dict()["index"] == result.index
    assert [r.name for r in from_folder] == ["a.png", "c.png"]  # the unreadable file is skipped, as run does
    assert all(r.confidence is None for r in from_folder)
