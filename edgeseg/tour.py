"""The tour behind `edgeseg quickstart` (edgeseg/cli/quickstart.py): the whole product on built-in data, as the
commands a user would type.

Each step runs the real `edgeseg` command in its own process and shows it, so the quickstart is also a
tour: synthesize a dataset, train, evaluate, export (ONNX, INT8, and a TensorRT engine where TensorRT
is installed), run the runtime over a generated video, explain a frame with Grad-CAM, benchmark.
The summary at the end reads what the steps wrote.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError

CLASSES = 4  # background and three shapes: learnable in minutes on a CPU


@dataclass
class QuickstartOptions:
    out: Path = Path("runs/quickstart")
    model: str = "deeplabv3plus_mobilenetv2"
    images: int = 200
    size: int = 128
    epochs: int = 15


class Steps:
    """Runs `edgeseg …` commands one after the other, numbered and timed; the first failure stops all."""

    def __init__(self, total: int, log: Callable[[str], None]) -> None:
        self.total, self.done, self.log = total, 0, log
        self.seconds: dict[str, float] = {}

    def run(self, title: str, *args: str) -> None:
        self.done += 1
        self.log(f"\n[{self.done}/{self.total}] {title}\n$ edgeseg {shlex.join(args)}")
        started = time.perf_counter()
        status = subprocess.run([sys.executable, "-m", "edgeseg", *args]).returncode
        self.seconds[title] = time.perf_counter() - started
        if status:
            raise EdgesegError(f"step {self.done} (`edgeseg {args[0]}`) failed with exit status {status}; see above")


def _frame_and_class(video: Path, model: Path, out: Path) -> tuple[Path, str]:
    """Of a few frames across the video, the one where the deployed model sees the most of one foreground
    class, saved as a PNG, and that class."""
    import cv2

    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.segmenter import Segmenter

    capture = cv2.VideoCapture(str(video))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    best: tuple[int, np.ndarray, int] = (0, np.empty(0), 0)
    backend = open_model(model, provider="cpu")
    meta = backend.metadata
    with backend:
        segmenter = Segmenter(backend)
        for position in np.linspace(0, max(count - 1, 0), 5).astype(int):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(position))
            ok, frame = capture.read()
            if not ok:
                continue
            counts = np.bincount(segmenter(frame).ravel(), minlength=meta.num_classes)
            counts[0] = 0  # background explains nothing interesting
            if counts.max() > best[0]:
                best = (int(counts.max()), frame, int(counts.argmax()))
    capture.release()
    pixels, frame, class_index = best
    if not pixels:
        raise EdgesegError("the trained model sees no object in the video; train longer with --epochs")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "frame.png"
    cv2.imwrite(str(path), frame)
    return path, meta.class_names[class_index]


def run_quickstart(options: QuickstartOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every step of the tour as the command a user would type; returns (and logs) the summary."""
    started = time.perf_counter()
    from edgeseg.bench.settings import BACKENDS, unavailable_reason

    tensorrt = unavailable_reason(BACKENDS["trt"]) is None
    steps = Steps(9 if tensorrt else 8, log)
    best = _train(steps, options)
    deployed = _export(steps, options, best, tensorrt)
    frame, class_name = _run_and_explain(steps, options, best, deployed)
    _bench(steps, options, tensorrt)
    summary = _summary(options, deployed, frame, class_name, time.perf_counter() - started)
    log(summary["text"])
    return summary


def _train(steps: Steps, options: QuickstartOptions) -> Path:
    """Dataset, training, evaluation; returns the best checkpoint."""
    out, data, run_name = options.out, options.out / "data", "train"
    steps.run(
        "synthesize a VOC-format dataset",
        *("data", "synth", str(data), "--images", str(options.images), "--size", str(options.size)),
        *("--classes", str(CLASSES), "--force"),  # out/data is the quickstart's own: a re-run rewrites it
    )
    steps.run(
        "train",
        *("train", "--model", options.model, "--data", str(data), "--size", str(options.size)),
        *("--epochs", str(options.epochs), "--batch-size", "8", "--lr", "1e-3"),
        *("--project", str(out), "--name", run_name, "--exist-ok"),
    )
    best = out / run_name / "weights" / "best.pt"
    steps.run("evaluate on the val split", "eval", str(best), "--data", str(data), "--json", str(out / "eval.json"))
    return best


def _export(steps: Steps, options: QuickstartOptions, best: Path, tensorrt: bool) -> Path:
    """ONNX and INT8 with parity checks, and an engine where TensorRT is here; returns what is deployed."""
    out, data, export = options.out, options.out / "data", options.out / "export"
    steps.run(
        "export to ONNX and INT8, with parity checks",
        *("export", str(best), "--out", str(export), "--int8", "--calib", str(data), "--verify", str(data)),
        # A few minutes' training leaves many pixels near a class boundary, where INT8 flips more of them than
        # on a model trained to convergence: the tour allows 5 points, the default (1) is for what you deploy.
        *("--max-int8-drop", "5"),
        "--no-engine",
    )
    deployed = export / "model.onnx"
    if tensorrt:  # as on a Jetson: the engine is built from the ONNX file, into its own folder
        engine = out / "engine"
        steps.run(
            "build a TensorRT FP16 engine from the ONNX file",
            *("export", str(deployed), "--fp16", "--engine", "--out", str(engine)),
        )
        deployed = engine / "model.engine"
    return deployed


def _run_and_explain(steps: Steps, options: QuickstartOptions, best: Path, deployed: Path) -> tuple[Path, str]:
    """The runtime over a generated video, then Grad-CAM on its frame that shows the most of one class."""
    out, onnx_model = options.out, options.out / "export" / "model.onnx"
    video = out / "clip.mp4"
    steps.run("generate a video to run on", "data", "video", str(video), "--frames", "90")
    steps.run(
        "segment the video with the runtime",
        *("run", "--model", str(deployed), "--source", str(video), "--save", str(out / "overlay.mp4")),
        *("--no-show", "--stats-json", str(out / "run_stats.json"), "--force"),  # a re-run replaces its own video
    )
    frame, class_name = _frame_and_class(video, onnx_model, out / "explain")
    steps.run(
        f"explain the prediction of {class_name!r} with Grad-CAM, the encoder layer by layer and the decoder",
        *("explain", str(best), str(frame), "--class", class_name, "--sweep"),
        *("--mask-from", str(onnx_model), "--out", str(out / "explain")),
        "--force",  # out/explain is the quickstart's own: a re-run replaces its explanation
    )
    return frame, class_name


def _bench(steps: Steps, options: QuickstartOptions, tensorrt: bool) -> None:
    # The same architecture (untrained weights: latency depends on shapes only), with both decoders.
    backends = "torch,ort,ort-int8" + (",trt" if tensorrt else "")
    steps.run(
        "benchmark both decoders on this machine's backends",
        *("bench", "--models", options.model, "--sizes", str(options.size), "--classes", str(CLASSES)),
        *(
            "--backends",
            backends,
            "--runs",
            "30",
            "--warmup",
            "5",
            "--e2e-frames",
            "30",
            "--out",
            str(options.out / "bench"),
        ),
        *("--heads", "separable", "--outputs", "classes"),  # what the quickstart trained and exported
    )


def _summary(options: QuickstartOptions, deployed: Path, frame: Path, class_name: str, seconds: float) -> dict:
    out = options.out
    metrics = json.loads((out / "eval.json").read_text())
    export_report = json.loads((out / "export" / "export_report.json").read_text())
    stats = json.loads((out / "run_stats.json").read_text())
    bench = json.loads((out / "bench" / "results.json").read_text())
    stem = f"{frame.name}_{class_name}_gradcam"  # named after the whole file name (edgeseg.runtime.media)
    files = {
        "dataset": out / "data" / "VOCdevkit" / "VOC2012",
        "checkpoint": out / "train" / "weights" / "best.pt",
        "training curves": out / "train" / "curves.png",
        "metrics": out / "eval.json",
        "ONNX model": out / "export" / "model.onnx",
        "INT8 ONNX model": out / "export" / "model.int8.onnx",
        "export report": out / "export" / "export_report.json",
        "deployed model": deployed,
        "segmented video": out / "overlay.mp4",
        "Grad-CAM": out / "explain" / f"{stem}.png",
        "Grad-CAM sweep": out / "explain" / f"{stem}_sweep.png",
        "benchmark report": out / "bench" / "report.md",
    }
    missing = [f"{name} ({path})" for name, path in files.items() if not path.exists()]
    if missing:
        raise EdgesegError(f"the quickstart finished but these are missing: {', '.join(missing)}")
    parity = {p["name"]: p for p in export_report["parity"] if "argmax_agreement" in p}
    lines = [
        "",
        f"quickstart done in {seconds / 60:.1f} min: everything is in {out}",
        "",
        f"  val mIoU {metrics['mIoU']:.4f} ({options.model}, {options.epochs} epochs at {options.size}×{options.size}, "
        f"{metrics['images']} val images)",
    ]
    for name, entry in parity.items():
        delta = "" if entry["delta_mIoU"] is None else f", ΔmIoU {entry['delta_mIoU']:+.4f}"
        lines.append(f"  {name}: argmax agreement {entry['argmax_agreement']:.3%}{delta}")
    lines.append(
        f"  edgeseg run: {stats['fps']:.1f} FPS end to end over {stats['frames']} frames of 640×480 ({deployed.name})"
    )
    lines.append(f"  latency at {options.size}×{options.size}, p50 of batch 1, {options.model} with each decoder:")
    for row in bench["rows"]:
        if "error" not in row:
            lines.append(f"    {row['upsample']:<10} {row['backend']:<16} {row['p50_ms']:8.2f} ms")
    for name, reason in bench["skipped"].items():
        lines.append(f"    {name:<27} skipped: {reason[:90]}")
    lines += ["", "  files:"] + [f"    {name:<17} {path}" for name, path in files.items()]
    lines += ["", "next: edgeseg --help, and docs/ for your own data, export choices and a Jetson"]
    return {
        "seconds": seconds,
        "mIoU": metrics["mIoU"],
        "fps": stats["fps"],
        "files": {k: str(v) for k, v in files.items()},
        "text": "\n".join(lines),
    }
