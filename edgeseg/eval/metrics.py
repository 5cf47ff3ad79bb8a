"""Segmentation metrics from a confusion matrix (rows: ground truth, columns: prediction)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def confusion_matrix(prediction: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """K×K int64 counts over the pixels whose target is a class (255 = ignore and anything ≥ K skipped)."""
    valid = target < num_classes
    index = target[valid].astype(np.int64) * num_classes + prediction[valid].astype(np.int64)
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


@dataclass(frozen=True)
class SegmentationMetrics:
    """Per-class IoU, recall, precision and F1, and their means over the classes that occur.

    A class that is neither in the ground truth nor predicted has no defined score (NaN) and is left
    out of the means; one that is predicted but absent from the ground truth scores 0.
    mPA is the mean of per-class pixel accuracy, which is per-class recall, so mPA equals mRecall.
    """

    class_names: tuple[str, ...]
    confusion: np.ndarray

    @property
    def _tp(self) -> np.ndarray:
        return np.diag(self.confusion).astype(np.float64)

    @staticmethod
    def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.maximum(den, 1), np.nan)

    @property
    def iou(self) -> np.ndarray:
        return self._ratio(self._tp, self.confusion.sum(0) + self.confusion.sum(1) - self._tp)

    @property
    def recall(self) -> np.ndarray:
        return self._ratio(self._tp, self.confusion.sum(1))

    @property
    def precision(self) -> np.ndarray:
        return self._ratio(self._tp, self.confusion.sum(0))

    @property
    def f1(self) -> np.ndarray:
        return self._ratio(2 * self._tp, self.confusion.sum(0) + self.confusion.sum(1))

    @property
    def miou(self) -> float:
        return _nanmean(self.iou)

    @property
    def pixel_accuracy(self) -> float:
        total = self.confusion.sum()
        return float(self._tp.sum() / total) if total else float("nan")

    def to_dict(self) -> dict[str, Any]:
        per_class = {
            name: {"iou": _num(i), "recall": _num(r), "precision": _num(p), "f1": _num(f), "pixels": int(n)}
            for name, i, r, p, f, n in zip(
                self.class_names, self.iou, self.recall, self.precision, self.f1, self.confusion.sum(1)
            )
        }
        return {
            "mIoU": _num(self.miou),
            "mPA": _num(_nanmean(self.recall)),
            "mRecall": _num(_nanmean(self.recall)),
            "mPrecision": _num(_nanmean(self.precision)),
            "mF1": _num(_nanmean(self.f1)),
            "pixel_accuracy": _num(self.pixel_accuracy),
            "per_class": per_class,
            "confusion_matrix": self.confusion.tolist(),
        }


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _num(value: float) -> float | None:
    """JSON has no NaN: an undefined score is null."""
    return None if np.isnan(value) else round(float(value), 6)
