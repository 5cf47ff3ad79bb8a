"""Evaluate an exported model file (.onnx on ONNX Runtime or OpenVINO, a TensorRT .engine) on a dataset split.

What `edgeseg eval MODEL.onnx` runs, as mmdeploy evaluates each backend: the file is opened by the runtime's
`open_model` and every image goes through the runtime's own steps (`Segmenter`: the metadata's pre-processing,
the backend, the argmax and un-letterboxing), so the numbers are those of the deployed file, scored with the same
confusion matrix and metrics as a checkpoint (edgeseg.eval.checkpoint). No torch: a Jetson can run it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.data.voc import load_split, read_sample
from edgeseg.errors import EdgesegError
from edgeseg.eval.metrics import SegmentationMetrics, confusion_matrix
from edgeseg.runtime.backends.base import Backend

MODEL_FILE_SUFFIXES = (".onnx", ".engine", ".plan")


@dataclass
class ModelFileEvaluation:
    """What `edgeseg eval` prints and writes, as for a checkpoint (edgeseg.eval.checkpoint, which needs torch)."""

    metrics: SegmentationMetrics
    title: str  # "<file> (<model>, <backend>) on <split>, <N> images": for the table and the chart
    info: dict[str, Any]  # what was evaluated and how it ran, written beside the metrics in the JSON


def evaluate_model_file(
    path: Path,
    data: Path,
    *,
    split: str = "val",
    subset: int | None = None,
    batch_size: int = 4,
    provider: str | None = None,
    precision: str | None = None,
    threads: int | None = None,
) -> ModelFileEvaluation:
    """Metrics of the model file `path` on `data`'s `split` (its first `subset` images), at full label resolution.

    provider, precision, threads: as `edgeseg run` takes them (which backend runs an .onnx file, and how).
    batch_size: images per inference, where the file takes a batch (an ONNX file exported with --dynamic-batch).
    """
    from edgeseg.runtime.backends import open_model

    load_split(data, split)  # a bad dataset is named before the model loads
    with open_model(path, provider=provider, threads=threads, precision=precision) as backend:
        return evaluate_backend(backend, path, data, split=split, subset=subset, batch_size=batch_size)


def evaluate_backend(
    backend: Backend, path: Path, data: Path, *, split: str = "val", subset: int | None = None, batch_size: int = 4
) -> ModelFileEvaluation:
    """`evaluate_model_file` on a backend already open (`path` names what it runs, for the report)."""
    from edgeseg.runtime.preprocess import preprocess_for
    from edgeseg.runtime.segmenter import Segmenter

    dataset_split = load_split(data, split)
    if subset is not None:
        dataset_split = replace(dataset_split, samples=dataset_split.samples[:subset])
    meta = backend.metadata
    if dataset_split.num_classes != meta.num_classes:
        raise EdgesegError(
            f"{path} predicts {meta.num_classes} classes but {data} has "
            f"{dataset_split.num_classes}; evaluate on the dataset it was trained for"
        )
    segmenter = Segmenter(backend)
    per_call = max(1, min(batch_size, segmenter.max_batch or batch_size))
    k = meta.num_classes
    confusion = np.zeros((k, k), np.int64)
    samples = list(dataset_split.samples)
    for start in range(0, len(samples), per_call):
        read = [read_sample(sample, k) for sample in samples[start : start + per_call]]
        prepared = [preprocess_for(image, meta) for image, _ in read]  # RGB images, as read_sample gives
        outputs = segmenter.infer_batch([tensor for tensor, _ in prepared])
        for output, (_, placement), (_, label) in zip(outputs, prepared, read):
            confusion += confusion_matrix(segmenter.finish(output.scores, placement), label, k)
    settings = backend.settings
    metrics = SegmentationMetrics(tuple(meta.class_names), confusion)
    info = {
        "model_file": str(path),
        "data": str(data),
        "split": split,
        "images": len(samples),
        "model": meta.model,
        "upsample": meta.upsample,
        "input_size": meta.input_size,
        "backend": settings,
    }
    title = f"{path.name} ({meta.model}, {_runs_on(settings)}) on {split}, {len(samples)} images"
    return ModelFileEvaluation(metrics, title, info)


def _runs_on(settings: dict) -> str:
    """ "OpenVINO CPU f32", "ONNX Runtime CPU", "TensorRT": for the title of the table and the chart."""
    if "openvino" in settings:
        return f"OpenVINO {settings['device']} {settings['precision']}"
    if "onnxruntime" in settings:
        return "ONNX Runtime " + settings["provider"].replace("ExecutionProvider", "")
    return settings["backend"].replace("Backend", "")
