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
    missing = [key for key in ("commit", "created", "machine", "config", "rows") if key not in results]
    if missing:
        raise EdgesegError(f"{path} lacks {', '.join(missing)}: pass a results.json written by edgeseg bench")
    return results


def _key(row: dict[str, Any]) -> tuple:
    # Results from before the head and output axes measured the head a model's legacy defaults describe
    # (DeepLabV3+: dense) and logits out.
    from edgeseg.models.registry import legacy_defaults

    legacy = legacy_defaults(row["model"]).get("separable")
    head = row.get("head", "" if legacy is None else "separable" if legacy else "dense")
    return (row["model"], head, row.get("output", "logits"), row["upsample"], row["backend"], row["size"], row["batch"])


@dataclass
class Comparison:
    lines: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)


def compare(new: dict[str, Any], old: dict[str, Any], tolerance: float) -> Comparison:
    """p50 latency new ÷ old per row; slower by more than `tolerance` (0.10 = 10 %) is a regression, and so is
    a row that was measured before and now fails or is missing."""
    before = {_key(r): r for r in old["rows"] if "error" not in r}
    now = {_key(r): r for r in new["rows"]}
    result = Comparison()
    result.lines += [f"## Against {old['commit']} ({old['created']})", ""]
    shared = set(old["machine"]) & set(new["machine"])  # what both recorded (instruction sets came later)
    if any(old["machine"][key] != new["machine"][key] for key in shared):
        result.lines.append("Measured on different machines: latency changes are not comparable.\n")
    for setting in ("threads", "runs", "warmup", "batch"):
        if old["config"].get(setting) != new["config"].get(setting):
            result.lines.append(
                f"Settings differ: {setting} {old['config'].get(setting)} then, {new['config'][setting]} now.\n"
            )
    result.lines += [
        f"p50 latency now ÷ then; a row slower by more than {tolerance:.0%} is a regression.",
        "",
        "| model | head | output | upsample | backend | size | then ms | now ms | change |",
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for key, then in before.items():
        model, head, output, upsample, backend, size, _ = key
        where = " ".join(str(k) for k in (model, head, upsample, backend, size) if k != "")
        where += f" ({output} out)" if output != "logits" else ""
        row = now.get(key)
        if row is None or "error" in row:
            why = "not measured now" if row is None else f"failed now: {row['error']}"
            result.regressions.append(f"{where}: {why}")
            result.lines.append(
                f"| {' | '.join(str(k) or '—' for k in key[:6])} | {then['p50_ms']:.2f} | — | {why} **regression** |"
            )
            continue
        change = row["p50_ms"] / then["p50_ms"] - 1
        mark = ""
        if change > tolerance:
            mark = " **regression**"
            result.regressions.append(f"{where}: p50 {then['p50_ms']:.2f} → {row['p50_ms']:.2f} ms ({change:+.0%})")
        result.lines.append(
            f"| {' | '.join(str(k) or '—' for k in key[:6])} | {then['p50_ms']:.2f} | {row['p50_ms']:.2f} "
            f"| {change:+.1%}{mark} |"
        )
    if not before:
        result.lines.append("| (the earlier run measured nothing) | | | | | | |")
    return result
