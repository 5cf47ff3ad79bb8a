"""The files each backend runs, exported once per model × upsample × size and reused across backends."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg import __version__
from edgeseg.atomic import write_text_atomic
from edgeseg.errors import describe
from edgeseg.runtime.metadata import INPUT_NAME, ModelMetadata

SEED = 0  # every backend measures the same weights


def build_bench_model(name: str, upsample: str, num_classes: int, model_kwargs: dict[str, Any] | None = None) -> Any:
    """The untrained model, seeded: latency does not depend on the weights' values, only their shapes."""
    import torch

    from edgeseg.models import build_model

    torch.manual_seed(SEED)
    return build_model(name, num_classes=num_classes, upsample=upsample, **(model_kwargs or {})).eval()


def bench_metadata(model: Any, num_classes: int, size: int) -> ModelMetadata:
    from edgeseg.data.synth import class_names
    from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
    from edgeseg.train.checkpoint import make_metadata

    return make_metadata(model, tuple(class_names(num_classes)), (size, size), IMAGENET_MEAN, IMAGENET_STD, "letterbox")


def calibration_images(meta: ModelMetadata, count: int) -> list[np.ndarray]:
    """Synthetic scenes, pre-processed as the runtime would: INT8 ranges from image-like inputs."""
    from edgeseg.data.synth import synth_image
    from edgeseg.runtime.preprocess import preprocess_for

    rng = np.random.default_rng(SEED)
    height, width = meta.input_size
    return [preprocess_for(synth_image(rng, height, width, 4)[0], meta)[0] for _ in range(count)]


def prepare_artifacts(
    folder: Path,
    model_name: str,
    upsample: str,
    size: int,
    *,
    num_classes: int,
    batch: int,
    wanted: set[str],
    calib_images: int,
    log: Callable[[str], None],
    model_kwargs: dict[str, Any] | None = None,
    output: str = "logits",
) -> tuple[dict[str, Path], dict[str, str]]:
    """Export what the `wanted` artifacts (model.onnx, model.int8.onnx, model.engine, …) need into `folder`.

    Returns the files made and, for those that could not be made, why (the suite reports those rows as
    failed and goes on). A folder whose stamp matches this request, code version included, is reused.
    """
    from edgeseg.bench.environment import git_commit
    from edgeseg.export.onnx_export import DEFAULT_OPSET, export_onnx

    stamp = {
        "model": model_name,
        "upsample": upsample,
        "model_kwargs": model_kwargs or {},
        "output": output,
        "size": size,
        "classes": num_classes,
        "batch": batch,
        "calib_images": calib_images,
        "opset": DEFAULT_OPSET,
        "edgeseg": __version__,
        "commit": git_commit(),
    }
    stamp_file = folder / "bench_stamp.json"
    if _read_stamp(stamp_file) != stamp:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stamp_file, json.dumps(stamp))
    paths, errors = {"model.onnx": folder / "model.onnx"}, {}
    model = build_bench_model(model_name, upsample, num_classes, model_kwargs)
    meta = replace(bench_metadata(model, num_classes, size), output=output)

    def make(artifact: str, step: Callable[[], None]) -> None:
        path = folder / artifact
        try:
            if not path.is_file():
                step()
            paths[artifact] = path
        except Exception as exc:  # one artifact that cannot be made fails its rows, not the suite
            errors[artifact] = f"could not make {artifact}: {describe(exc)}"
            log(errors[artifact])

    def onnx_fp32() -> None:
        log(f"exporting {model_name} ({upsample}, {output} out) at {size}×{size} to {folder / 'model.onnx'}")
        export_onnx(model, meta, folder / "model.onnx", dynamic_batch=batch > 1, output=output, log=log)

    make("model.onnx", onnx_fp32)
    if "model.onnx" in errors:
        return {}, {artifact: errors["model.onnx"] for artifact in wanted}
    calibration = []
    if wanted & {"model.int8.onnx", "model.int8.engine"}:
        from edgeseg.export.precision import quantize_int8

        calibration = calibration_images(meta, calib_images)
        log(f"quantizing to INT8 on {calib_images} synthetic images")
        make(
            "model.int8.onnx",
            lambda: quantize_int8(paths["model.onnx"], folder / "model.int8.onnx", calibration, INPUT_NAME),
        )
    for engine, precision in (("model.engine", "fp16"), ("model.int8.engine", "int8")):
        if engine in wanted:
            make(
                engine, lambda e=engine, p=precision: _build_engine(paths, folder / e, p, meta, batch, calibration, log)
            )
    return paths, errors


def _read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _build_engine(
    paths: dict[str, Path],
    engine: Path,
    precision: str,
    meta: ModelMetadata,
    batch: int,
    calibration: list[np.ndarray],
    log: Callable[[str], None],
) -> None:
    from edgeseg.export.precision import convert_fp16
    from edgeseg.export.tensorrt_build import EngineRequest, build_engine

    fp16 = paths["model.onnx"].with_name("model.fp16.onnx")
    if not fp16.is_file():
        convert_fp16(paths["model.onnx"], fp16)
    onnx_files = {"fp32": paths["model.onnx"], "fp16": fp16}
    if "model.int8.onnx" in paths:
        onnx_files["int8"] = paths["model.int8.onnx"]
    log(f"building the TensorRT {precision.upper()} engine {engine}")
    build_engine(
        EngineRequest(
            onnx_files=onnx_files,
            engine=engine,
            metadata=meta,
            precision=precision,
            dynamic_batch=(1, batch, batch) if batch > 1 else None,
            calibration=calibration,
        ),
        log=log,
    )
