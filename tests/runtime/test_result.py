"""The result object's parts on their own: confidence from logits, class shares, polygons and the JSON form."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgeseg.runtime.confidence import ConfidenceMap, top_probability
from edgeseg.runtime.preprocess import image_classes, image_pixels, place
from edgeseg.runtime.result import SegmentationResult, class_polygons, class_shares, confidence_summary

NAMES = ["background", "road", "person"]


def confidence_at_image(confidence: np.ndarray, placement) -> np.ndarray:
    """h×w confidence at the network's resolution → at the image's size, as the run loop's outputs get it."""
    return ConfidenceMap(image_pixels(confidence, placement), placement.image_size).at_image()


def _softmax_top(logits: np.ndarray) -> np.ndarray:
    """The textbook form in float64: every class's probability, then the largest."""
    wide = logits.astype(np.float64)
    exp = np.exp(wide - wide.max(0))
    return (exp / exp.sum(0)).max(0)


def test_top_probability_is_softmax_top_and_stable_for_large_logits():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((21, 40, 50)).astype(np.float32) * 4
    got = top_probability(logits)
    assert got.dtype == np.float32 and got.shape == (40, 50)
    np.testing.assert_allclose(got, _softmax_top(logits), rtol=1e-5)
    huge = logits * 1000  # exp(l) alone overflows float32 from l ≈ 89
    with np.errstate(over="raise", invalid="raise"):
        stable = top_probability(huge)
    assert np.isfinite(stable).all() and stable.min() >= 1 / 21 and stable.max() <= 1.0
    tie = np.zeros((4, 2, 2), np.float32)
    np.testing.assert_allclose(top_probability(tie), 0.25)
    np.testing.assert_array_equal(top_probability(logits, logits.max(axis=0)), got)  # the argmax's maximum reused


def test_confidence_is_cropped_out_of_the_letterbox_and_resized_to_the_image():
    placement = place((60, 120), (32, 32))  # a wide image: padding above and below
    network = np.zeros((32, 32), np.float32)
    network[placement.top : placement.top + placement.height] = 0.75  # the image's rows; padding stays 0
    got = confidence_at_image(network, placement)
    assert got.shape == (60, 120) and got.dtype == np.float32
    np.testing.assert_allclose(got, 0.75)  # nothing of the padding leaks in


def test_shares_cover_every_class_and_sum_to_one():
    mask = np.zeros((10, 10), np.uint8)
    mask[:5] = 1
    mask[9, 9] = 2
    shares = class_shares(mask, NAMES)
    assert shares == {"background": 0.49, "road": 0.5, "person": 0.01}
    assert class_shares(np.zeros((4, 4), np.uint8), NAMES) == {"background": 1.0, "road": 0.0, "person": 0.0}


def test_polygons_give_outlines_with_holes_in_image_coordinates():
    mask = np.zeros((60, 80), np.uint8)
    mask[10:50, 20:70] = 1  # a road 50 wide, 40 high …
    mask[20:30, 30:40] = 2  # … with a person standing on it: a hole in the road
    mask[55, 5] = 2  # one stray pixel: no polygon, but it counts in the shares
    polygons = class_polygons(mask, NAMES, tolerance=0)  # traced on every pixel, not simplified
    assert set(polygons) == {"background", "road", "person"}
    (road,) = polygons["road"]
    assert sorted(_points(road["outline"])) == [(20, 10), (20, 49), (69, 10), (69, 49)]
    (hole,) = road["holes"]
    xs, ys = hole[0::2], hole[1::2]
    assert (min(xs), max(xs), min(ys), max(ys)) == (29, 40, 19, 30)  # the border around the person's pixels
    (person,) = polygons["person"]
    assert sorted(_points(person["outline"])) == [(30, 20), (30, 29), (39, 20), (39, 29)]
    for regions in polygons.values():
        for region in regions:
            assert all(type(v) is int for v in region["outline"])


def test_default_polygons_are_within_their_tolerance_of_the_exact_outline():
    mask = np.zeros((120, 160), np.uint8)
    mask[21:90, 33:131] = 1
    mask[40:61, 50:75] = 2
    exact, default = class_polygons(mask, NAMES, tolerance=0), class_polygons(mask, NAMES)
    assert set(default) == set(exact)
    for name in ("road", "person"):
        (got,), (want,) = default[name], exact[name]
        for x, y in _points(got["outline"]):  # every corner lies within 2 px (the grid and the tolerance) of one
            assert min(abs(x - u) + abs(y - v) for u, v in _points(want["outline"])) <= 2
        assert len(got["holes"]) == len(want["holes"])
    assert all(v % 2 == 0 for r in default["road"] for v in r["outline"])  # traced on every other row and column


def _points(ring: list[int]) -> list[tuple[int, int]]:
    """[x0, y0, x1, y1, …] as (x, y) pairs."""
    return list(zip(ring[0::2], ring[1::2]))


def test_polygons_are_simplified_by_the_tolerance():
    yy, xx = np.mgrid[:200, :200]
    disc = (((yy - 100) ** 2 + (xx - 100) ** 2) < 80**2).astype(np.uint8)
    fine = class_polygons(disc, ["bg", "disc"], tolerance=0)["disc"][0]["outline"]
    coarse = class_polygons(disc, ["bg", "disc"], tolerance=2.0)["disc"][0]["outline"]
    assert len(coarse) < len(fine) / 4 and len(coarse) >= 16  # eight points or more


def test_to_dict_is_plain_json_with_the_documented_keys():
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 2, (30, 40)).astype(np.uint8)
    confidence = rng.uniform(0.4, 1.0, (30, 40)).astype(np.float32)
    result = SegmentationResult(
        mask, NAMES, confidence, index=np.int64(7), name="7", captured=1.7e9 + 0.25,
        seconds={"capture": 0.001, "pre": 0.002, "infer": 0.0305, "post": 0.004, "render": 0.1},
    )  # fmt: skip
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)  # json refuses numpy types: this fails on any np.float32 or np.int64
    assert json.loads(text) == data
    keys = ["stream", "index", "name", "captured", "width", "height", "latency_ms", "shares", "confidence"]
    assert list(data) == keys
    assert data["index"] == 7 and data["captured"] == 1.7e9 + 0.25 and (data["width"], data["height"]) == (40, 30)
    assert data["latency_ms"] == {"capture": 1.0, "pre": 2.0, "infer": 30.5, "post": 4.0}  # no stage after output
    assert set(data["confidence"]["classes"]) == {"background", "road"}  # only the classes present
    assert "polygons" in result.to_dict(polygons=True) and "confidence" not in SegmentationResult(mask, NAMES).to_dict()


def test_confidence_summary_means_per_class():
    mask = np.array([[0, 0, 1, 1]], np.uint8)
    confidence = np.array([[0.5, 0.7, 0.9, 1.0]], np.float32)
    summary = confidence_summary(mask, confidence, NAMES)
    assert summary == {"mean": pytest.approx(0.775), "classes": {"background": 0.6, "road": 0.95}}


@pytest.mark.parametrize("image_size", [(1080, 1920), (1920, 1080)])  # letterboxed above and below, or beside
def test_confidence_summary_of_a_large_frame_is_the_exact_mean_within_a_thousandth(image_size):
    from edgeseg.runtime.preprocess import postprocess

    rng = np.random.default_rng(4)  # a 256² network's output scaled up to full HD, as the run loop makes it
    logits = cv2.GaussianBlur(rng.standard_normal((256, 256, 3)).astype(np.float32), (0, 0), 6).transpose(2, 0, 1)
    logits = np.ascontiguousarray(logits) * 20
    placement = place(image_size, (256, 256))
    mask = postprocess(logits, placement)
    confidence = confidence_at_image(top_probability(logits), placement)
    # on the frame's pixels (the API's form without a map) and on the network's (what the run loop's outputs use)
    probability, classes = image_pixels(top_probability(logits), placement), image_classes(logits, placement)
    network = ConfidenceMap(probability, image_size, classes)
    for summary in (confidence_summary(mask, confidence, NAMES), network.summary(NAMES)):
        assert summary["mean"] == pytest.approx(confidence.mean(), abs=1e-3)
        for c, name in enumerate(NAMES):
            assert summary["classes"][name] == pytest.approx(confidence[mask == c].mean(), abs=1e-3)
    np.testing.assert_array_equal(network.at_image(), confidence)


def test_a_records_json_summarises_the_confidence_without_resizing_it():
    from edgeseg.runtime.record import FrameRecord
    from edgeseg.runtime.render import Renderer

    rng = np.random.default_rng(5)
    logits = rng.standard_normal((3, 32, 32)).astype(np.float32) * 3
    placement = place((48, 64), (32, 32))
    classes = image_classes(logits, placement)
    mask = cv2.resize(classes, (64, 48), interpolation=cv2.INTER_NEAREST_EXACT)
    made = ConfidenceMap(image_pixels(top_probability(logits), placement), (48, 64), classes)
    renderer = Renderer(NAMES, np.array([[0, 0, 0], [0, 255, 0], [255, 0, 0]], np.uint8))
    record = FrameRecord(0, 3, "3", 0.0, 1.7e9, np.zeros((48, 64, 3), np.uint8), mask, {}, renderer, None, made)
    line = json.loads(record.to_json())
    assert made._image is None  # the JSON outputs never pay for the map at the frame's size
    assert line["confidence"] == made.summary(NAMES)
    assert record.confidence is record.confidence and record.confidence.shape == (48, 64)  # made once, then shared
    api = SegmentationResult(mask, NAMES, record.confidence, 3, "3", 1.7e9, confidence_map=made)
    assert api.to_dict()["confidence"] == line["confidence"]  # the API's JSON says what the run's says
