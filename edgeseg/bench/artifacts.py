"""The files each backend runs, exported once per model × upsample × size and reused across backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg import __version__

SEED = 0  # every backend measures the same weights


def build_bench_model(name: str, upsample: str, num_classes: int) -> Any:
    """The untrained model, seeded: latency does not depend on the weights' values, only their shapes."""
    import torch

    from edgeseg.models import build_model

    torch.manual_seed(SEED)
    return build_model(name, num_classes=num_classes, upsample=upsample).eval()


def bench_metadata(model: Any, num_classes: int, size: int) -> dict[str, Any]:
    from edgeseg.data.synth import class_names
    from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
    from edgeseg.train.checkpoint import make_metadata

    return make_metadata(
        model, tuple(class_names(num_classes)), (size, size), IMAGENET_MEAN, IMAGENET_STD, "letterbox"
    ).to_dict()


def calibration_images(meta: dict[str, Any], count: int) -> list[np.ndarray]:
    """Synthetic scenes, pre-processed as the runtime would: INT8 ranges from image-like inputs."""
    from edgeseg.data.synth import synth_image
    from edgeseg.runtime.preprocess import preprocess_for

    rng = np.random.default_rng(SEED)
    height, width = meta["input_size"]
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
) -> dict[str, Path]:
    """Export what the `wanted` artifacts (model.onnx, model.int8.onnx, model.engine, …) need into `folder`.

    A folder whose stamp matches this request is reused: re-running a benchmark does not re-export.
    """
    from edgeseg.export.onnx_export import INPUT_NAME, export_onnx

    stamp = {"model": model_name, "upsample": upsample, "size": size, "classes": num_classes, "batch": batch}
    stamp["edgeseg"] = __version__
    stamp_file = folder / "bench_stamp.json"
    if not (stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp):
        for old in folder.glob("model*"):
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(json.dumps(stamp))
    paths = {"model.onnx": folder / "model.onnx"}
    model = build_bench_model(model_name, upsample, num_classes)
    meta = bench_metadata(model, num_classes, size)
    if not paths["model.onnx"].is_file():
        log(f"exporting {model_name} ({upsample}) at {size}×{size} to {paths['model.onnx']}")
        export_onnx(model, meta, paths["model.onnx"], dynamic_batch=batch > 1, log=log)
    needs_int8 = bool(wanted & {"model.int8.onnx", "model.int8.engine"})
    calibration = calibration_images(meta, calib_images) if needs_int8 else []
    if needs_int8:
        from edgeseg.export.precision import quantize_int8

        paths["model.int8.onnx"] = folder / "model.int8.onnx"
        if not paths["model.int8.onnx"].is_file():
            log(f"quantizing to INT8 on {calib_images} synthetic images")
            quantize_int8(paths["model.onnx"], paths["model.int8.onnx"], calibration, INPUT_NAME)
    for engine, precision in (("model.engine", "fp16"), ("model.int8.engine", "int8")):
        if engine in wanted:
            paths[engine] = folder / engine
            if not paths[engine].is_file():
                _build_engine(paths, engine, precision, meta, batch, calibration, log)
    return paths


def _build_engine(
    paths: dict[str, Path],
    engine: str,
    precision: str,
    meta: dict[str, Any],
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
    log(f"building the TensorRT {precision.upper()} engine {paths[engine]}")
    build_engine(
        EngineRequest(
            onnx_files=onnx_files,
            engine=paths[engine],
            metadata=meta,
            precision=precision,
            dynamic_batch=(1, batch, batch) if batch > 1 else None,
            calibration=calibration,
        ),
        log=log,
    )
