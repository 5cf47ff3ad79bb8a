"""`edgeseg doctor`: what edgeseg can use on this machine, and what to do about each missing piece."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def doctor(
    model: Optional[Path] = typer.Option(None, help="Also check that this .engine/.onnx/.pt loads here."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (for scripts)."),
) -> None:
    """Check Python, numpy, OpenCV, TensorRT, CUDA, GPU, ONNX Runtime, OpenVINO, the CPU and cameras; exit 1 if
    edgeseg run cannot work."""
    from edgeseg.runtime.doctor import diagnose, format_report

    report = diagnose(model)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_report(report))
    raise typer.Exit(0 if report.ok else 1)
