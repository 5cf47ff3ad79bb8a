"""`edgeseg bench --compare OLD.json`: the change of every row measured in both runs, and regressions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseg.bench.suite import FORMAT
from edgeseg.errors import EdgesegError

REGRESSION_EXIT = 3


def load_results(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise EdgesegError(f"results file not found: {path}")
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdgesegError(f"{path} is not JSON ({exc}); pass a results.json written by edgeseg bench") from exc
    if not isinstance(results, dict) or results.get("format") != FORMAT:
        raise EdgesegError(f"{path} is not an edgeseg bench results.json (no format {FORMAT!r})")
    return results


def _key(row: dict[str, Any]) -> tuple:
    return (row["model"], row["upsample"], row["backend"], row["size"], row["batch"])


@dataclass
class Comparison:
    lines: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)


def compare(new: dict[str, Any], old: dict[str, Any], tolerance: float) -> Comparison:
    """p50 latency new ÷ old per row; slower by more than `tolerance` (0.10 = 10 %) is a regression."""
    before = {_key(r): r for r in old["rows"] if "error" not in r}
    result = Comparison()
    result.lines += [
        f"## Against {old['commit']} ({old['created']})",
        "",
        f"p50 latency now ÷ then; a row slower by more than {tolerance:.0%} is a regression.",
        "",
        "| model | upsample | backend | size | then ms | now ms | change |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    if old["machine"] != new["machine"]:
        result.lines.insert(2, "Note: measured on different machines; latency changes are not comparable.\n")
    for row in new["rows"]:
        then = before.get(_key(row))
        if then is None or "error" in row:
            continue
        change = row["p50_ms"] / then["p50_ms"] - 1
        mark = ""
        if change > tolerance:
            mark = " **regression**"
            result.regressions.append(
                f"{row['model']} {row['upsample']} {row['backend']} {row['size']}: "
                f"p50 {then['p50_ms']:.2f} → {row['p50_ms']:.2f} ms ({change:+.0%})"
            )
        result.lines.append(
            f"| {row['model']} | {row['upsample']} | {row['backend']} | {row['size']} | {then['p50_ms']:.2f} "
            f"| {row['p50_ms']:.2f} | {change:+.1%}{mark} |"
        )
    if len(result.lines) == 6:
        result.lines.append("| (no row measured in both runs) | | | | | | |")
    return result
