"""What every benchmark script records beside its numbers, and how it writes them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeseg.atomic import write_text_atomic
from edgeseg.bench.environment import describe_machine
from edgeseg.bench.environment import git_commit as _git_commit
from edgeseg.bench.environment import machine as _machine
from edgeseg.bench.paths import scrub, shown_path

RESULTS = Path(__file__).parent / "results"
# Folders of the machine that ran a script, which a committed report must not name (tests/bench checks them too).
MACHINE_FOLDER = re.compile(r"/tmp/|/work/|/root/|/home/|\.\./runs|[A-Za-z]:\\")

__all__ = ["RESULTS", "git_commit", "machine", "save", "shown_path"]


def git_commit() -> str:
    return _git_commit(RESULTS.parent)


def machine() -> str:
    return describe_machine(_machine())


def save(name: str, result: dict[str, Any], markdown: list[str], paths: Mapping[str | Path, str] | None = None) -> None:
    """benchmarks/results/NAME.json and NAME.md, each written atomically; the table is also printed.

    Both are read on other machines, so the folders in `paths` become their placeholders ({tmp: "<tmp>"}), the
    repository's folder becomes relative paths and the temporary folder `<tmp>` (edgeseg.bench.paths.scrub); a
    line still naming a folder of this machine is printed as a warning, to be fixed before it is committed."""
    RESULTS.mkdir(exist_ok=True)
    texts = {
        RESULTS / f"{name}.json": scrub(json.dumps(result, indent=2) + "\n", paths),
        RESULTS / f"{name}.md": scrub("\n".join(markdown) + "\n", paths),
    }
    for path, text in texts.items():
        write_text_atomic(path, text)
    print(texts[RESULTS / f"{name}.md"], end="")
    for path, text in texts.items():
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_FOLDER.search(line):
                print(f"warning: {path.name}:{number} names a folder of this machine: {line.strip()[:160]}")
