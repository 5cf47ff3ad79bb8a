"""The `edgeseg` command line: one module per command, each parsing its options and calling the library."""

from __future__ import annotations

import sys
import traceback

import typer

from edgeseg import __version__
from edgeseg.cli import bench, data, doctor, export, models, quickstart, ros2, run, train
from edgeseg.cli.data_import import import_command as data_import_command
from edgeseg.cli.eval import eval_command
from edgeseg.cli.explain import explain_command
from edgeseg.cli.import_ import import_command as import_onnx_command
from edgeseg.errors import EdgesegError

try:  # typer ≥ 0.20 carries its own copy of click; older ones use click itself
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _click_exceptions

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
data.app.command("import")(data_import_command)
app.add_typer(data.app, name="data")
app.command("train")(train.train)
app.command("eval")(eval_command)
app.command("export")(export.export)
app.command("import")(import_onnx_command)
app.command("run")(run.run)
app.command("explain")(explain_command)
app.command("bench")(bench.bench)
app.command("quickstart")(quickstart.quickstart)
app.command("doctor")(doctor.doctor)
app.command("ros2", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(ros2.ros2)


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and a non-zero exit.

    Bad input (an EdgesegError, a malformed option, an OSError such as a permission or a full disk) is
    one line `error: …`. Anything else is a bug: its traceback, then one line saying so.
    """
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except BaseException as exc:  # the one place every escaping exception becomes an exit code
        sys.exit(_report(exc))
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)


def _report(exc: BaseException) -> int:
    """Print what went wrong the way its kind deserves; return the exit code."""
    if isinstance(exc, SystemExit):
        raise exc
    if isinstance(exc, EdgesegError):
        _error(str(exc))
        return 1
    if isinstance(exc, getattr(_click_exceptions, "NoArgsIsHelpError", ())):
        exc.show()  # `edgeseg data` alone: the help text, as before
        return exc.exit_code
    if isinstance(exc, _click_exceptions.UsageError):
        command = exc.ctx.command_path if exc.ctx is not None else "edgeseg"
        _error(f"{exc.format_message()} (see `{command} --help`)")
        return exc.exit_code
    if isinstance(exc, _click_exceptions.ClickException):
        _error(exc.format_message())
        return exc.exit_code
    if isinstance(exc, typer.Abort):
        _error("aborted")
        return 1
    if isinstance(exc, OSError):
        _error(_os_error(exc))
        return 1
    traceback.print_exception(type(exc), exc, exc.__traceback__)
    _error(
        f"this is a bug in edgeseg {__version__}, not a problem with your input: please report it on the "
        "edgeseg issue tracker with the command you ran and the traceback above"
    )
    return 1


def _os_error(exc: OSError) -> str:
    """An OSError as `<cause>: <path>`, e.g. `permission denied: runs/x/weights/best.pt`."""
    from edgeseg.writable import cause

    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    where = " → ".join(str(p) for p in paths) if paths else "(no path given by the system)"
    return f"{cause(exc)}: {where}"
