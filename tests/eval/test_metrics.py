"""Metrics against an independent, per-class set computation on random label maps."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.eval.metrics import SegmentationMetrics, confusion_matrix


def reference(pred: np.ndarray, gt: np.ndarray, k: int) -> dict[str, np.ndarray]:
    valid = gt != 255
    out = {name: np.full(k, np.nan) for name in ("iou", "recall", "precision", "f1")}
    for c in range(k):
        p, g = (pred == c) & valid, (gt == c) & valid
        inter, union = np.sum(p & g), np.sum(p | g)
        if union:
            out["iou"][c] = inter / union
            out["f1"][c] = 2 * inter / (p.sum() + g.sum())
        if g.sum():
            out["recall"][c] = inter / g.sum()
        if p.sum():
            out["precision"][c] = inter / p.sum()
    out["accuracy"] = np.sum((pred == gt) & valid) / valid.sum()
    return out


@pytest.mark.parametrize("seed", range(5))
def test_metrics_equal_an_independent_computation(seed):
    rng = np.random.default_rng(seed)
    k = 6
    gt = rng.integers(0, k - 1, (2, 37, 53)).astype(np.uint8)  # class 5 never in the ground truth
    gt[rng.random(gt.shape) < 0.1] = 255
    pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, k, gt.shape)).astype(np.uint8)
    pred[gt == 255] = rng.integers(0, k, (gt == 255).sum())  # what is predicted on ignored pixels must not count
    cm = sum(confusion_matrix(p, g, k) for p, g in zip(pred, gt))
    metrics = SegmentationMetrics(tuple(f"c{i}" for i in range(k)), cm)
    ref = reference(pred, gt, k)
    for name in ("iou", "recall", "precision", "f1"):
        np.testing.assert_allclose(getattr(metrics, name), ref[name], equal_nan=True)
    assert metrics.miou == pytest.approx(np.nanmean(ref["iou"]))
    assert metrics.pixel_accuracy == pytest.approx(ref["accuracy"])
    summary = metrics.to_dict()
    assert summary["mPA"] == summary["mRecall"] == pytest.approx(np.nanmean(ref["recall"]), abs=1e-6)
    assert summary["per_class"]["c5"]["recall"] is None  # absent from the ground truth: undefined, JSON null
    assert summary["per_class"]["c5"]["iou"] == 0.0  # but predicted: IoU 0 counts against the mean


def test_class_neither_present_nor_predicted_is_left_out():
    gt = np.array([[0, 0, 1, 1]], np.uint8)
    metrics = SegmentationMetrics(("a", "b", "c"), confusion_matrix(gt, gt, 3))
    assert np.isnan(metrics.iou[2])
    assert metrics.miou == 1.0
