"""How results name files: relative to the repository, or as a placeholder, never a folder of the machine.

A committed report is read on other machines. `/tmp/tmpab12cd/model.pt` or `/home/alice/runs/data` says
nothing there, and names a folder of the machine that ran it; `runs/qs96/data` (relative to the repository, where
the documented commands write) or `<data>` (a placeholder for what the reader supplies) says what it was.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

# The checkout edgeseg runs from, where the benchmarks and their results live (None for an installed package).
_ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = _ROOT if (_ROOT / "pyproject.toml").is_file() and (_ROOT / "benchmarks").is_dir() else None


def _under(path: Path, folder: Path) -> str | None:
    """`path` relative to `folder` in POSIX form, or None where it lies outside (the folder itself: ".")."""
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return None


def _forms(folder: str | Path) -> list[str]:
    """A folder's absolute forms: as written (made absolute) and with symbolic links resolved (/tmp is
    /private/tmp on macOS); never a root folder, which would match every path."""
    given = os.fspath(folder)
    forms = dict.fromkeys([os.path.abspath(given), os.path.realpath(given)]) if given else {}
    return [form for form in forms if Path(form).anchor != form]


def shown_path(path: str | Path, placeholder: str) -> str:
    """`path` as a report shows it: relative to the repository where it lies inside it (`runs/qs96/data`),
    `<tmp>/…` under the system's temporary folder, else `placeholder` (e.g. `<data>`, `<work>/model.onnx`)."""
    absolute = Path(os.path.abspath(Path(path).expanduser()))
    if REPOSITORY is not None:
        for root in _forms(REPOSITORY):
            inside = _under(absolute, Path(root))
            if inside is not None:
                return inside
    for root in _forms(tempfile.gettempdir()):
        inside = _under(absolute, Path(root))
        if inside is not None:
            return "<tmp>" if inside == "." else f"<tmp>/{inside}"
    return placeholder


def scrub(text: str, folders: Mapping[str | Path, str] | None = None) -> str:
    """`text` with every `folders` key (a folder or a file, in any of its written forms) replaced by its
    placeholder; then the repository's folder by nothing (paths become relative to it), the temporary folder by
    `<tmp>` and the home folder by `~`. Longest folder first, so a folder inside another keeps its own name; only
    whole names: `/data` is not replaced in `/data2` nor in `/old/data`."""
    named: dict[str, str] = {}  # a folder as written → what replaces it
    if REPOSITORY is not None:
        for form in _forms(REPOSITORY):
            named[form + "/"] = ""
            named[form] = "."
    named.update({form: "<tmp>" for form in _forms(tempfile.gettempdir())})
    named.update({form: "~" for form in _forms(Path.home())})
    for folder, shown in (folders or {}).items():  # the caller's names win over the general ones
        written = os.fspath(folder)  # a relative path as the text may hold it (`../runs/data`), never a bare word
        named.update({form: shown for form in _forms(folder) + ([written] if "/" in written.strip("/") else [])})
    for folder in sorted(named, key=len, reverse=True):
        # Not the end of a longer name before it; not followed by more of a name (a full stop may end a sentence).
        pattern = r"(?<![\w.-])" + re.escape(folder) + ("" if folder.endswith("/") else r"(?![\w-]|\.\w)")
        text = re.sub(pattern, lambda _, shown=named[folder]: shown, text)
    return text
