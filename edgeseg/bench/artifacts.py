"""The files the bench measures, made as a user makes them: a checkpoint written by the product's own save
function, then `edgeseg export`'s steps on it (ONNX, INT8, TensorRT engines).

One folder per model × upsample × head × size holds the checkpoint, with a subfolder per exported output kind;
a folder whose stamp matches the request, code version included, is reused.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgeseg import __version__
from edgeseg.atomic import write_text_atomic
from edgeseg.bench.config import Variant
from edgeseg.errors import describe

SEED = 0  # every backend measures the same weights
CHECKPOINT = "model.pt"
# The exporter names every engine model.engine; the bench's FP16 and INT8 engines get a subfolder each.
ENGINES = {"model.engine": ("engine_fp16", "fp16"), "model.int8.engine": ("engine_int8", "int8")}


def prepare_checkpoint(folder: Path, variant: Variant, *, num_classes: int, stamp: dict[str, Any]) -> Path:
    """`folder`/model.pt: the untrained model, seeded, saved by `save_checkpoint` with its metadata.

    `stamp` adds what the exports in the subfolders depend on (batch, calibration images): a folder made for
    another request, or by another version of the code, is emptied first.
    """
    from edgeseg.bench.environment import git_commit
    from edgeseg.export.onnx_export import DEFAULT_OPSET

    stamp = {
        **stamp,
        **asdict(variant),
        "classes": num_classes,
        "opset": DEFAULT_OPSET,
        "edgeseg": __version__,
        "commit": git_commit(),
    }
    stamp_file = folder / "bench_stamp.json"
    if _read_stamp(stamp_file) != stamp:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stamp_file, json.dumps(stamp))
    checkpoint = folder / CHECKPOINT
    if not checkpoint.is_file():
        _save_untrained(checkpoint, variant, num_classes)
    return checkpoint


def _save_untrained(path: Path, variant: Variant, num_classes: int) -> None:
    """Latency does not depend on the weights' values, only their shapes: untrained weights will do."""
    import torch

    from edgeseg.data.synth import class_names
    from edgeseg.models import build_model
    from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
    from edgeseg.train.checkpoint import make_metadata, save_checkpoint

    torch.manual_seed(SEED)
    model = build_model(variant.model, num_classes=num_classes, upsample=variant.upsample, **variant.model_kwargs)
    size, names = (variant.size, variant.size), tuple(class_names(num_classes))
    save_checkpoint(path, model.eval(), make_metadata(model, names, size, IMAGENET_MEAN, IMAGENET_STD, "letterbox"))


def export_artifacts(
    checkpoint: Path,
    folder: Path,
    *,
    output: str,
    size: int,
    batch: int,
    wanted: set[str],
    calib_images: int,
    log: Callable[[str], None],
) -> tuple[dict[str, Path], dict[str, str]]:
    """Export `checkpoint` into `folder` as `edgeseg export` would, for the `wanted` files (model.onnx,
    model.int8.onnx, model.engine, model.int8.engine); files already there are reused.

    Returns the files made and, for those that could not be made, why (the suite reports those rows as
    failed and goes on).
    """
    onnx_missing = not all((folder / name).is_file() for name in {"model.onnx", *(wanted & {"model.int8.onnx"})})
    engines_missing = [e for e in ENGINES if e in wanted and not _engine_path(folder, e).is_file()]
    settings: dict[str, Any] = {"output": output, "batch": batch, "calib_images": calib_images, "log": log}
    if (onnx_missing and "model.int8.onnx" in wanted) or "model.int8.engine" in engines_missing:
        settings["calib"] = _calibration_folder(folder / "calib", calib_images, size)
    why: dict[str, str | None] = {}
    if onnx_missing:
        log(f"exporting {checkpoint.parent.name} ({output} out) to {folder}")
        why["model.onnx"] = _export(checkpoint, folder, int8="model.int8.onnx" in wanted, engine=False, **settings)
    for engine in engines_missing:
        subfolder, precision = ENGINES[engine]
        if (folder / "model.onnx").is_file():
            log(f"building the TensorRT {precision.upper()} engine in {folder / subfolder}")
            onnx = folder / "model.onnx"
            why[engine] = _export(onnx, folder / subfolder, engine=True, **{precision: True}, **settings)
    paths, errors = {}, {}
    for name in wanted:
        path = _engine_path(folder, name) if name in ENGINES else folder / name
        if path.is_file():
            paths[name] = path
        else:
            errors[name] = f"could not make {name}: {why.get(name) or why.get('model.onnx') or 'no reason given'}"
    return paths, errors


def _engine_path(folder: Path, engine: str) -> Path:
    return folder / ENGINES[engine][0] / "model.engine"


def _export(
    source: Path,
    out: Path,
    *,
    output: str,
    batch: int,
    engine: bool,
    calib_images: int,
    log: Callable[[str], None],
    calib: Path | None = None,
    fp16: bool = False,
    int8: bool = False,
) -> str | None:
    """The bench's one call into `edgeseg export`'s steps; returns why it failed, or None."""
    from edgeseg.export.steps import ExportOptions, run_export

    options = ExportOptions(
        source=source,
        out=out,
        output=output,
        dynamic_batch=batch > 1,
        max_batch=2 * batch,  # the engine's optimization profile is (1, max // 2, max): tuned for `batch`
        fp16=fp16,
        int8=int8,
        calib=calib if int8 else None,
        calib_images=calib_images,
        verify_images=1,  # parity is the exporter's own check; the bench measures time, one image will do
        max_int8_drop=100.0,  # untrained weights: INT8 may change any share of pixels; the file is still timed
        engine=engine,
    )
    try:
        run_export(options, log=lambda _step: None)  # the bench says what it exports; failures below
    except Exception as exc:  # one file that cannot be made fails its rows, not the suite
        log(f"could not export {source.name} to {out}: {describe(exc)}")
        return describe(exc)
    return None


def _calibration_folder(folder: Path, count: int, size: int) -> Path:
    """Synthetic scenes for INT8 calibration, a folder of images as a user would pass to --calib."""
    import cv2
    import numpy as np

    from edgeseg.data.synth import synth_image

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    for index in range(count):
        image = synth_image(rng, size, size, 4)[0]
        cv2.imwrite(str(folder / f"calib_{index:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return folder


def _read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
