"""`edgeseg bench`: parameters, GFLOPs, latency, memory and end-to-end FPS per model × decoder × backend × size."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Optional

import typer

from edgeseg.bench.config import HEADS, OUTPUTS, BenchConfig
from edgeseg.bench.settings import BACKENDS
from edgeseg.cli.options import default_help, given_options
from edgeseg.errors import require

Opt = typer.Option
NOT_SETTINGS = ("config", "compare", "tolerance")  # options of the command, not of BenchConfig
FIELD_OF = {"classes": "num_classes"}  # options named otherwise than the BenchConfig field they set


def _default(name: str) -> str:
    return default_help(BenchConfig, name)


def rerun_command(config: Optional[Path], given: dict[str, Any]) -> str:
    """The command line that measures the same again, its paths as a report shows them (edgeseg.bench.paths)."""
    from edgeseg.bench.paths import shown_path

    words = ["edgeseg", "bench"] + (["--config", shown_path(config, "<config.yaml>")] if config else [])
    option_of = {field: option for option, field in FIELD_OF.items()}
    for name, value in given.items():
        shown = shown_path(value, "<out>") if name == "out" else str(value)
        words += ["--" + option_of.get(name, name).replace("_", "-"), shlex.quote(shown) if " " in shown else shown]
    return " ".join(words)


def bench(
    ctx: typer.Context,
    models: Optional[str] = Opt(None, help=f"Comma-separated models {_default('models')}."),
    upsample: Optional[str] = Opt(None, help=f"Decoder upsampling modes to compare {_default('upsample')}."),
    heads: Optional[str] = Opt(
        None, help=f"DeepLabV3+ heads to compare: {', '.join(HEADS)} {_default('heads')}; other models have one."
    ),
    outputs: Optional[str] = Opt(
        None, help=f"Exported output kinds for the ONNX/TensorRT rows: {', '.join(OUTPUTS)} {_default('outputs')}."
    ),
    backends: Optional[str] = Opt(
        None,
        help=f"Comma-separated: {', '.join(BACKENDS)} {_default('backends')}; those that cannot run here are "
        "skipped with the reason.",
    ),
    sizes: Optional[str] = Opt(None, help=f"Square input sizes, comma-separated {_default('sizes')}."),
    batch: Optional[int] = Opt(None, help=f"Images per inference {_default('batch')}."),
    runs: Optional[int] = Opt(None, help=f"Timed runs per measurement {_default('runs')}."),
    warmup: Optional[int] = Opt(None, help=f"Untimed runs first {_default('warmup')}."),
    threads: Optional[int] = Opt(None, help=f"CPU threads for PyTorch and ONNX Runtime {_default('threads')}."),
    e2e_frames: Optional[int] = Opt(
        None, help=f"Frames of a generated video for `edgeseg run`'s end-to-end FPS (0: skip) {_default('e2e_frames')}."
    ),
    classes: Optional[int] = Opt(None, help=f"Classes of the measured models' output {_default('num_classes')}."),
    calib_images: Optional[int] = Opt(None, help=f"Images INT8 is calibrated on {_default('calib_images')}."),
    out: Optional[Path] = Opt(None, help=f"Folder for results.json, report.md, charts {_default('out')}."),
    config: Optional[Path] = Opt(None, help="YAML file of these options; command-line options win."),
    compare: Optional[Path] = Opt(None, help="An earlier results.json: print the change, exit 3 if slower."),
    tolerance: float = Opt(0.10, min=0.0, help="Slow-down beyond which --compare reports a regression (0.10 = 10%)."),
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

    given = given_options(ctx, leave_out=NOT_SETTINGS, rename=FIELD_OF)
    values = load_yaml(config) if config else {}
    if values:
        build_config(values, str(config))  # a bad field is named as the file's, before options override it
    settings = build_config({**values, **given})
    old = load_results(compare) if compare else None  # a bad --compare file fails before minutes of measuring
    check_writable(settings.out, "--out", folder=True)
    results = run_suite(settings, log=lambda message: typer.echo(message, err=True))
    results["command"] = rerun_command(config, given)
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
