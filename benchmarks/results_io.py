"""What every benchmark script records beside its numbers, and how it writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeseg.atomic import write_text_atomic
from edgeseg.bench.environment import describe_machine
from edgeseg.bench.environment import git_commit as _git_commit
from edgeseg.bench.environment import machine as _machine

RESULTS = Path(__file__).parent / "results"


def git_commit() -> str:
    return _git_commit(RESULTS.parent)


def machine() -> str:
    return describe_machine(_machine())


def save(name: str, result: dict[str, Any], markdown: list[str]) -> None:
    """benchmarks/results/NAME.json and NAME.md, each written atomically; the table is also printed."""
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / f"{name}.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(RESULTS / f"{name}.md", "\n".join(markdown) + "\n")
    print("\n".join(markdown))
