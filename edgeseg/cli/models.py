"""`edgeseg models`: every registered model × decoder upsampling × head, with parameters and GFLOPs."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from edgeseg.cli.options import parse_size
from edgeseg.errors import require


def models(
    size: str = typer.Option("512", help="Input size for the FLOP count: S or HxW."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the model zoo: parameters (M) and GFLOPs of each model × upsample (× head) at SIZE."""
    height, width = parse_size(size, low=16)
    require("torch", extra="train")
    from edgeseg.models import UPSAMPLE_MODES, list_models
    from edgeseg.models.complexity import describe_model, head_variants

    rows = [
        describe_model(name, upsample=mode, height=height, width=width, **head)
        for name in list_models()
        for mode in UPSAMPLE_MODES
        for head in head_variants(name)
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"edgeseg models at {height}×{width} (21 classes)")
    for column in ("model", "upsample", "head", "params (M)", "backbone (M)", "GFLOPs"):
        table.add_column(column, justify="left" if column in ("model", "upsample", "head") else "right")
    for row in rows:
        table.add_row(
            row["model"],
            row["upsample"],
            row["head"] or "-",
            f"{row['params_m']:.2f}",
            f"{row['backbone_params_m']:.2f}",
            f"{row['gflops']:.1f}",
        )
    Console().print(table)
