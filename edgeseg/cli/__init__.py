"""The `edgeseg` command line: one module per command, each parsing its options and calling the library."""

from __future__ import annotations

import sys

import typer

from edgeseg import __version__
from edgeseg.cli import bench, data, export, models, quickstart, run, train
from edgeseg.cli.eval import eval_command
from edgeseg.cli.explain import explain_command
from edgeseg.errors import EdgesegError

app = typer.Typer(
    name="edgeseg",
    help="Semantic segmentation from PyTorch training to a TensorRT engine on a Jetson camera.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say "[default: …]" literally; markup would swallow it
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"edgeseg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Train, export, deploy and explain semantic-segmentation models."""


app.command("models")(models.models)
app.add_typer(data.app, name="data")
app.command("train")(train.train)
app.command("eval")(eval_command)
app.command("export")(export.export)
app.command("run")(run.run)
app.command("explain")(explain_command)
app.command("bench")(bench.bench)
app.command("quickstart")(quickstart.quickstart)
app.command("doctor")(__import__("edgeseg.cli.doctor", fromlist=["doctor"]).doctor)


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and exit code 1."""
    try:
        app()
    except EdgesegError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
