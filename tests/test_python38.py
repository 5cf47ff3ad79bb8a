"""JetPack 5 runs Python 3.8: what a Jetson runs (edgeseg run, export from ONNX, doctor) must run there.

vermin (.ci/run) checks the stdlib APIs of the paths in .ci/lean-modules.txt; these tests check that
the list covers every module those commands import, that each parses with the 3.8 grammar, and that no
annotation typer evaluates at run time uses a 3.9+ form (list[str], X | None).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

JETSON_MODULES = (
    "edgeseg.cli",
    "edgeseg.cli.doctor",
    "edgeseg.export.steps",
    "edgeseg.export.tensorrt_build",
    "edgeseg.export.verification",
    "edgeseg.export.precision",
    "edgeseg.data.synth",
)


def _lean_files() -> list[Path]:
    files: list[Path] = []
    for line in (REPO / ".ci" / "lean-modules.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            path = REPO / line.strip()
            files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def test_the_list_covers_every_module_a_jetson_imports(run_python_without):
    code = (
        "import importlib, os, pkgutil, sys\n"
        "import edgeseg.runtime\n"
        "for m in pkgutil.walk_packages(edgeseg.runtime.__path__, 'edgeseg.runtime.'):\n"
        "    importlib.import_module(m.name)\n"
        f"for m in {JETSON_MODULES!r}:\n"
        "    importlib.import_module(m)\n"
        "for name, mod in sorted(sys.modules.items()):\n"
        "    if name.startswith('edgeseg') and getattr(mod, '__file__', None):\n"
        "        print(os.path.realpath(mod.__file__))\n"
    )
    result = run_python_without(code, blocked=("torch", "torchvision"))
    assert result.returncode == 0, result.stderr
    imported = {Path(line) for line in result.stdout.split()}
    listed = {p.resolve() for p in _lean_files()}
    assert len(imported) > 30
    assert imported <= listed, f"add to .ci/lean-modules.txt: {sorted(map(str, imported - listed))}"


@pytest.mark.parametrize("path", _lean_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_parses_with_the_python_38_grammar(path):
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))


def test_the_grammar_check_can_fail():
    with pytest.raises(SyntaxError):
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 8))


def _new_style(annotation: str) -> bool:
    """True for forms that fail when evaluated on 3.8: builtin generics (list[str]) and X | Y unions."""
    for node in ast.walk(ast.parse(annotation, mode="eval")):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return True
        builtin = isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
        if builtin and node.value.id in ("list", "tuple", "dict", "set", "frozenset", "type"):
            return True
    return False


def _commands(group, prefix=""):
    for info in group.registered_commands:
        yield prefix + (info.name or info.callback.__name__), info.callback
    for sub in group.registered_groups:
        yield from _commands(sub.typer_instance, prefix + sub.name + " ")


def test_typer_signatures_evaluate_on_python_38():
    from edgeseg.cli import app

    assert _new_style("list[str]") and _new_style("Optional[int] | None") and not _new_style("Optional[List[str]]")
    bad = []
    for name, callback in _commands(app):
        for parameter in inspect.signature(callback).parameters.values():
            annotation = parameter.annotation
            if isinstance(annotation, str) and _new_style(annotation):
                bad.append(f"edgeseg {name} --{parameter.name}: {annotation}")
    assert bad == [], "typer evaluates these at run time; Python 3.8 cannot (use typing.List / Optional)"


_GENERIC_BUILTINS = {"list", "tuple", "dict", "set", "frozenset", "type"}


def _runtime_generic_subscripts(source: str) -> list[str]:
    """list[int], Callable[…] from collections.abc, … evaluated at run time: TypeError on Python 3.8.

    Annotations are skipped: `from __future__ import annotations` keeps them unevaluated.
    """
    tree = ast.parse(source)
    from_abc = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "collections.abc"
        for alias in node.names
    }
    annotations = set()
    for node in ast.walk(tree):
        for child in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if child is not None:
                annotations |= {id(n) for n in ast.walk(child)}
    return [
        f"line {node.lineno}: {ast.get_source_segment(source, node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id in _GENERIC_BUILTINS | from_abc
        and id(node) not in annotations
    ]


@pytest.mark.parametrize("path", _lean_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_generic_subscripts_evaluated_at_run_time(path):
    assert _runtime_generic_subscripts(path.read_text()) == []


def test_the_subscript_check_can_fail():
    code = "from collections.abc import Callable\nPredict = Callable[[int], int]\ndef f(x: list[int]) -> None: ...\n"
    assert _runtime_generic_subscripts(code) == ["line 2: Callable[[int], int]"]
