"""Task-level parity between two ways of running a model: argmax agreement and ΔmIoU, not only max |Δ|.

A max-abs-diff says little about segmentation: FP16 can move logits by 0.05 and change no pixel, and
INT8 can keep the diff small on average while a whole class collapses. So every comparison reports
per-pixel argmax agreement, and with labelled images the mIoU of both and the per-class ΔIoU.

`check_file` runs an exported file on ONNX Runtime against its reference; `guard` removes a file that fails;
`openvino_checks` adds OpenVINO's rows (per precision) where OpenVINO is installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union  # typing's: the aliases below are evaluated at run time (Python 3.8)

import numpy as np

from edgeseg.errors import EdgesegError, describe
from edgeseg.eval.metrics import SegmentationMetrics, confusion_matrix
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgeseg.runtime.metadata import OUTPUT_NAMES
from edgeseg.runtime.preprocess import Placement, postprocess

Predict = Callable[[np.ndarray], np.ndarray]  # 1×3×H×W float32 → 1×C×H×W logits or a 1×H×W class map


@dataclass
class ParityReport:
    name: str  # e.g. "onnx fp32 vs pytorch"
    images: int
    max_abs_diff: float | None  # None when either side returns class maps (argmax in the graph)
    argmax_agreement: float
    nonfinite: int  # NaN/inf values in the candidate's logits
    reference_miou: float | None = None
    candidate_miou: float | None = None
    per_class_delta_iou: dict[str, float | None] = field(default_factory=dict)

    @property
    def delta_miou(self) -> float | None:
        if self.reference_miou is None or self.candidate_miou is None:
            return None
        return self.candidate_miou - self.reference_miou

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "images": self.images,
            "max_abs_diff": self.max_abs_diff,
            "argmax_agreement": self.argmax_agreement,
            "nonfinite": self.nonfinite,
            "reference_mIoU": self.reference_miou,
            "candidate_mIoU": self.candidate_miou,
            "delta_mIoU": self.delta_miou,
            "per_class_delta_IoU": self.per_class_delta_iou,
        }

    def summary(self) -> str:
        text = f"{self.name}: argmax agreement {100 * self.argmax_agreement:.3f}% over {self.images} images"
        if self.max_abs_diff is not None:
            text += f", max |Δ logit| {self.max_abs_diff:.3g}"
        if self.nonfinite:
            text += f", {self.nonfinite} NaN/inf values"
        if self.delta_miou is not None:
            text += f", mIoU {self.reference_miou:.4f} → {self.candidate_miou:.4f} (Δ {self.delta_miou:+.4f})"
        return text


def _classes(output: np.ndarray) -> np.ndarray:
    """N×H×W class indices from logits (argmax over C) or from a class map as it is."""
    return output.argmax(1) if output.ndim == 4 else output


def compare(
    name: str,
    reference: Predict,
    candidate: Predict,
    inputs: Sequence[np.ndarray],
    class_names: Sequence[str],
    labels: Sequence[tuple[np.ndarray, Placement]] | None = None,
) -> ParityReport:
    """Run both on every input; with labels (full-size label, placement), score both on them too.

    Either side may return logits (N×C×H×W) or class maps (N×H×W, the argmax in the graph): agreement
    and mIoU compare class maps; max |Δ logit| and the NaN count need logits on both sides / the candidate.
    """
    k = len(class_names)
    agree = total = nonfinite = 0
    max_diff: float | None = 0.0
    confusion_ref, confusion_cand = np.zeros((k, k), np.int64), np.zeros((k, k), np.int64)
    for index, batch in enumerate(inputs):
        ref, cand = reference(batch), candidate(batch)
        if cand.ndim == 4:
            cand = cand.astype(np.float32)
            finite = np.isfinite(cand)
            nonfinite += int((~finite).sum())
            if ref.ndim == 4 and finite.any() and max_diff is not None:
                max_diff = max(max_diff, float(np.abs(ref.astype(np.float32) - cand)[finite].max()))
            cand = np.where(finite, cand, -np.inf)
        if ref.ndim != 4 or cand.ndim != 4:
            max_diff = None
        ref_classes, cand_classes = _classes(ref), _classes(cand)
        agree += int((ref_classes == cand_classes).sum())
        total += ref_classes.size
        if labels is not None:
            label, placement = labels[index]
            confusion_ref += confusion_matrix(postprocess(ref_classes[0], placement), label, k)
            confusion_cand += confusion_matrix(postprocess(cand_classes[0], placement), label, k)
    report = ParityReport(name, len(inputs), max_diff, agree / max(total, 1), nonfinite)
    if labels is not None:
        ref_metrics = SegmentationMetrics(tuple(class_names), confusion_ref)
        cand_metrics = SegmentationMetrics(tuple(class_names), confusion_cand)
        report.reference_miou, report.candidate_miou = ref_metrics.miou, cand_metrics.miou
        delta = cand_metrics.iou - ref_metrics.iou
        report.per_class_delta_iou = {
            c: None if np.isnan(d) else round(float(d), 6) for c, d in zip(class_names, delta)
        }
    return report


class ParityFailure(EdgesegError):
    """The exported model does not predict what the source model predicts."""


@dataclass
class NotRun:
    """A parity check ONNX Runtime could not run here (an INT8 op the CPU provider lacks, say)."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "not_run": self.reason}


Check = Union[ParityReport, NotRun]  # typing's Union: evaluated at run time (Python 3.8)


@dataclass
class Verification:
    """The images every file is checked on (and their labels, with --verify)."""

    inputs: list[np.ndarray]
    labels: list[Any] | None
    class_names: list[str]


@contextmanager
def onnx_session(path: Path) -> Iterator[Predict]:
    """`path` on ONNX Runtime's CPU provider as a prediction function; the session closes on leaving."""
    with OnnxRuntimeBackend(path, provider="cpu") as backend:
        yield _predictor(backend)


def _predictor(backend: Backend) -> Predict:
    # By name where edgeseg named it (a --confidence export has a second output), else the graph's first output
    # (a file made by another tool, `edgeseg import`).
    wanted = OUTPUT_NAMES.get(backend.metadata.output)
    name, output = backend.input_names[0], wanted if wanted in backend.output_names else backend.output_names[0]
    return lambda x: backend.infer({name: x})[output]


def check_file(name: str, path: Path, reference: Predict, data: Verification, log: Callable[[str], None]) -> Check:
    """`path` compared with `reference` on the verification images, on ONNX Runtime CPU when it can run it."""
    try:
        backend = OnnxRuntimeBackend(path, provider="cpu")
    except EdgesegError as exc:
        log(f"{name}: not run on ONNX Runtime CPU here ({exc})")
        return NotRun(name, str(exc))
    with backend:
        try:
            result = compare(name, reference, _predictor(backend), data.inputs, data.class_names, data.labels)
        except Exception as exc:
            log(f"{name}: ONNX Runtime CPU cannot run it ({describe(exc)})")
            return NotRun(name, describe(exc))
    log(result.summary())
    return result


def openvino_checks(
    files: dict[str, Path], reference: Predict, data: Verification, log: Callable[[str], None]
) -> list[Check]:
    """Where OpenVINO is installed: the FP32 file with the f32 and bf16 precision hints, and the INT8 file with the
    CPU's own precision, on OpenVINO's CPU against `reference` (what a deployment on an Intel CPU runs). Reported,
    never guarded: a file that ONNX Runtime found faithful stays. Nothing where OpenVINO is not installed."""
    import importlib.util

    if importlib.util.find_spec("openvino") is None:
        return []
    runs = [("fp32", "f32"), ("fp32", "bf16"), ("int8", None)]
    return [_openvino_check(files[kind], hint, reference, data, log) for kind, hint in runs if kind in files]


def _openvino_check(
    path: Path, hint: str | None, reference: Predict, data: Verification, log: Callable[[str], None]
) -> Check:
    from edgeseg.runtime.backends.openvino import OpenVinoBackend

    what = "int8" if hint is None else hint
    try:
        backend = OpenVinoBackend(path, device="CPU", precision=hint)
    except EdgesegError as exc:
        log(f"openvino {what}: not run here ({exc})")
        return NotRun(f"openvino {what} vs reference", str(exc))
    ran = backend.precision
    # The name says what ran where it is not what was asked: a bf16 hint runs f32 on a CPU without bf16 hardware.
    name = f"openvino {what}" + (f" (runs {ran})" if hint and ran and ran != hint else "") + " vs reference"
    with backend:
        try:
            result = compare(name, reference, _predictor(backend), data.inputs, data.class_names, data.labels)
        except Exception as exc:
            log(f"{name}: OpenVINO cannot run it ({describe(exc)})")
            return NotRun(name, describe(exc))
    log(result.summary())
    return result


def guard(check: Check, path: Path, required: float | None) -> Check:
    """`check` as it is, or the file removed and ParityFailure: NaN/inf out, or agreement below `required`."""
    if not isinstance(check, ParityReport):
        return check
    if check.nonfinite:
        path.unlink()  # an unusable file must not be mistaken for a good one later
        raise ParityFailure(f"{path.name} outputs NaN/inf ({check.nonfinite} values); removed it")
    if required is not None and check.argmax_agreement < required:
        path.unlink()
        raise ParityFailure(
            f"{path.name} agrees with the source on {100 * check.argmax_agreement:.3f}% of pixels, below "
            f"--min-agreement {100 * required:.3f}%; the export is not faithful, removed it (see the parity above)"
        )
    return check
