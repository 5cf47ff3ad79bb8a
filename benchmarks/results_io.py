"""What every benchmark script records beside its numbers, and how it writes them."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from edgeseg.atomic import write_text_atomic

RESULTS = Path(__file__).parent / "results"


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=RESULTS.parent)
    return out.stdout.strip() or "unknown"


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {platform.system()}, {os.cpu_count()} cores"


def save(name: str, result: dict[str, Any], markdown: list[str]) -> None:
    """benchmarks/results/NAME.json and NAME.md, each written atomically; the table is also printed."""
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / f"{name}.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(RESULTS / f"{name}.md", "\n".join(markdown) + "\n")
    print("\n".join(markdown))
