"""`edgeseg bench`: parameters, GFLOPs, latency, memory and end-to-end FPS per model × decoder × backend × size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from edgeseg.errors import require


def bench(
    models: Optional[str] = typer.Option(None, help="Comma-separated models [default: every registered one]."),
    upsample: Optional[str] = typer.Option(None, help="Decoders to compare [default: bilinear,transposed]."),
    heads: Optional[str] = typer.Option(
        None, help="DeepLabV3+ heads to compare: separable, dense [default: both; other models have one]."
    ),
    outputs: Optional[str] = typer.Option(
        None, help="Exported output kinds for the ONNX/TensorRT rows: classes, logits [default: both]."
    ),
    backends: Optional[str] = typer.Option(
        None,
        help="Comma-separated: torch, torch-cuda, torch-cuda-fp16, ort, ort-int8, ort-cuda, ort-trt, trt, trt-int8 "
        "[default: all; those that cannot run here are skipped with the reason].",
    ),
    sizes: Optional[str] = typer.Option(None, help="Square input sizes, e.g. 256,512 [default: 256,512]."),
    batch: Optional[int] = typer.Option(None, help="Images per inference [default: 1]."),
    runs: Optional[int] = typer.Option(None, help="Timed runs per measurement [default: 20]."),
    warmup: Optional[int] = typer.Option(None, help="Untimed runs first [default: 3]."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for PyTorch and ONNX Runtime [default: all]."),
    e2e_frames: Optional[int] = typer.Option(
        None, help="Frames of a generated video for `edgeseg run`'s end-to-end FPS (0: skip) [default: 30]."
    ),
    classes: Optional[int] = typer.Option(None, help="Classes of the measured models' output [default: 21, VOC]."),
    out: Optional[Path] = typer.Option(None, help="Folder for results.json, report.md, charts [default: runs/bench]."),
    config: Optional[Path] = typer.Option(None, help="YAML file of these options; command-line options win."),
    compare: Optional[Path] = typer.Option(None, help="An earlier results.json: print the change, exit 3 if slower."),
    tolerance: float = typer.Option(
        0.10, min=0.0, help="Slow-down beyond which --compare reports a regression (0.10 = 10%)."
    ),
) -> None:
    """Measure what each model, decoder and backend costs; write results.json, report.md and PNG charts."""
    require("torch", extra="train")
    from edgeseg.atomic import write_text_atomic
    from edgeseg.bench.charts import write_charts
    from edgeseg.bench.compare import REGRESSION_EXIT, load_results
    from edgeseg.bench.compare import compare as compare_results
    from edgeseg.bench.config import build_config
    from edgeseg.bench.report import markdown
    from edgeseg.bench.suite import run_suite
    from edgeseg.train.config import load_yaml
    from edgeseg.writable import check_writable

    given = {
        "models": models,
        "upsample": upsample,
        "heads": heads,
        "outputs": outputs,
        "backends": backends,
        "sizes": sizes,
        "batch": batch,
        "runs": runs,
        "warmup": warmup,
        "threads": threads,
        "e2e_frames": e2e_frames,
        "num_classes": classes,
        "out": out,
    }
    values = load_yaml(config) if config else {}
    if values:
        build_config(values, str(config))  # a bad field is named as the file's, before options override it
    settings = build_config({**values, **{k: v for k, v in given.items() if v is not None}})
    old = load_results(compare) if compare else None  # a bad --compare file fails before minutes of measuring
    check_writable(settings.out, "--out", folder=True)
    results = run_suite(settings, log=lambda message: typer.echo(message, err=True))
    write_text_atomic(settings.out / "results.json", json.dumps(results, indent=2) + "\n")
    report = markdown(results, write_charts(results, settings.out))
    regressions = []
    if old is not None:
        comparison = compare_results(results, old, tolerance)
        report += "\n" + "\n".join(comparison.lines) + "\n"
        regressions = comparison.regressions
    write_text_atomic(settings.out / "report.md", report)
    typer.echo(report)
    typer.echo(f"wrote {settings.out / 'results.json'} and {settings.out / 'report.md'}", err=True)
    if regressions:
        typer.echo(f"{len(regressions)} regression(s) beyond {tolerance:.0%}:", err=True)
        for line in regressions:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(REGRESSION_EXIT)
