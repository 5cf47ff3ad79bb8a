"""Hostile inputs through the real `edgeseg` command line, each checked against the standard for bad input.

    python -m benchmarks.bad_inputs.sweep --out DIR [--only SUBSTRING]

The standard, for every case: a non-zero exit; stderr ends in one line `error: …` (the only such line)
that contains the case's `expect`; no "Traceback" anywhere; and the file system as it was — no new files
or folders, nothing modified or removed, in the case's own temp folder (its working directory, where
default outputs such as runs/ would land) and in every shared fixture.

Cases live in `cases_*.py` beside this file, each a module with `CASES: list[dict]`: `name`, `args`
(placeholders {tmp} {data} {ckpt} {onnx} {ro} {file} {full}), optional `files` ({relative path under
{tmp}: text, bytes, or a function of the placeholders' values returning either} made first) and `expect`.
Writes DIR/results.json and DIR/report.md; exits 0.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EDGESEG = Path(sys.executable).with_name("edgeseg")
TIMEOUT_S = 600


def discover() -> list[dict[str, Any]]:
    """Every case of every cases_*.py module, each tagged with its module's name."""
    cases = []
    for path in sorted(HERE.glob("cases_*.py")):
        module = importlib.import_module(f"benchmarks.bad_inputs.{path.stem}")
        cases += [{**case, "module": path.stem} for case in module.CASES]
    names = [case["name"] for case in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SystemExit(f"case names must be unique; repeated: {', '.join(duplicates)}")
    return cases


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under `roots`: (kind, size, mtime) for files, ("dir",) for folders."""
    state: dict[str, tuple] = {}
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            state[folder] = ("dir",)
            for name in files:
                path = os.path.join(folder, name)
                info = os.lstat(path)
                state[path] = ("file", info.st_size, info.st_mtime_ns)
    return state


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    added = [f"new {p}" for p in sorted(set(after) - set(before))]
    removed = [f"removed {p}" for p in sorted(set(before) - set(after))]
    modified = [f"modified {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return added + removed + modified


def judge(case: dict[str, Any], done: subprocess.CompletedProcess, changed: list[str]) -> dict[str, bool]:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return {
        "non_zero_exit": done.returncode != 0,
        "one_error_line_last": len(errors) == 1 and bool(lines) and lines[-1] == errors[0],
        "expected_text": bool(errors) and case.get("expect", "") in errors[0],
        "no_traceback": "Traceback" not in done.stderr + done.stdout,
        "file_system_unchanged": not changed,
    }


def run_case(case: dict[str, Any], fixtures: dict[str, str], fixture_root: Path) -> dict[str, Any]:
    needs = [key for key in ("full",) if "{" + key + "}" in " ".join(case["args"])]
    missing = [key for key in needs if key not in fixtures]
    if missing:
        return {**_describe(case), "skipped": f"no {{{missing[0]}}} fixture here (needs root and tmpfs)"}
    with tempfile.TemporaryDirectory(prefix="edgeseg-case-") as tmp:
        values = {**fixtures, "tmp": tmp}
        for relative, content in case.get("files", {}).items():
            target = Path(tmp) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            made = content(values) if callable(content) else content  # a damaged artifact made from a fixture
            if isinstance(made, bytes):
                target.write_bytes(made)
            else:
                target.write_text(fill(made, values))
        args = [fill(arg, values) for arg in case["args"]]
        before = snapshot(Path(tmp), fixture_root)
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        start = time.perf_counter()
        try:
            done = subprocess.run(
                [str(EDGESEG), *args], capture_output=True, text=True, cwd=tmp, env=env, timeout=TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            recorded = {**_describe(case), "args": args, "ok": False, "checks": {"finished": False}}
            return as_recorded(recorded, values, fixture_root)
        seconds = time.perf_counter() - start
        changed = changes(before, snapshot(Path(tmp), fixture_root))
    checks = judge({**case, "expect": fill(case.get("expect", ""), values)}, done, changed)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    recorded = {
        **_describe(case),
        "args": args,
        "ok": all(checks.values()),
        "checks": checks,
        "returncode": done.returncode,
        "message": lines[-1] if lines else "",
        "stderr_lines": len(lines),
        "stderr_tail": "\n".join(lines[-15:]),
        "changes": changed[:20],
        "seconds": round(seconds, 2),
    }
    return as_recorded(recorded, values, fixture_root)


def as_recorded(result: dict[str, Any], values: dict[str, str], fixture_root: Path) -> dict[str, Any]:
    """`result` with the case's temporary folder and the fixtures named by their placeholders (`<tmp>/model.pt`,
    `<data>`, `<ckpt>`), in its arguments, messages and changes: the report is read on other machines."""
    from edgeseg.bench.paths import scrub

    folders = {value: f"<{key}>" for key, value in values.items() if Path(value).is_absolute()}
    folders[str(fixture_root)] = "<fixtures>"
    texts = {key: value for key, value in result.items() if key in ("args", "message", "stderr_tail", "changes")}
    return {**result, **json.loads(scrub(json.dumps(texts, ensure_ascii=False), folders))}


def fill(text: str, values: dict[str, str]) -> str:
    """Placeholders replaced literally (not str.format: YAML's {flow: mappings} must survive)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _describe(case: dict[str, Any]) -> dict[str, Any]:
    return {"name": case["name"], "module": case["module"], "expect": case.get("expect", "")}


def table_cell(text: str) -> str:
    """`text` in a Markdown table: a `|` would end the cell, and `<tmp>` or `<name>` would be read as HTML tags
    and not shown at all."""
    return text.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")


def report(results: list[dict[str, Any]], fixtures: dict[str, str]) -> str:
    ran = [r for r in results if "skipped" not in r]
    passed = [r for r in ran if r["ok"]]
    lines = [
        "# Bad-input sweep",
        "",
        f"{len(passed)} of {len(ran)} cases meet the standard (non-zero exit, one `error:` line naming the "
        f"problem, no traceback, file system unchanged); {len(results) - len(ran)} skipped.",
        "",
        f"Read-only folder: {fixtures.get('ro_kind')}; full disk: {fixtures.get('full_kind', 'not available')}.",
        "",
        "| module | cases | meet the standard |",
        "| --- | ---: | ---: |",
    ]
    for module in sorted({r["module"] for r in ran}):
        mine = [r for r in ran if r["module"] == module]
        lines.append(f"| {module} | {len(mine)} | {sum(r['ok'] for r in mine)} |")
    failures = [r for r in ran if not r["ok"]]
    if failures:
        lines += ["", "## Failures", ""]
        for r in failures:
            failed = ", ".join(k for k, v in r["checks"].items() if not v)
            lines += [f"### {r['name']} ({failed})", "", "```", "edgeseg " + " ".join(r["args"])]
            lines += [r.get("stderr_tail", ""), *r.get("changes", []), "```", ""]
    skipped = [r for r in results if "skipped" in r]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- {r['name']}: {r['skipped']}" for r in skipped]
    lines += ["", "## Every message", "", "| case | exit | message |", "| --- | ---: | --- |"]
    for r in ran:
        lines.append(f"| {r['name']} | {r.get('returncode')} | {table_cell(r.get('message', ''))} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for results.json and report.md.")
    parser.add_argument("--only", default="", help="Run only cases whose name contains this.")
    options = parser.parse_args()
    from benchmarks.bad_inputs.fixtures import prepared
    from benchmarks.results_io import git_commit, machine
    from edgeseg.atomic import write_text_atomic

    # `timeout` and Ctrl-C must still unmount the fixtures' tmpfs folders: SIGTERM unwinds like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cases = [c for c in discover() if options.only in c["name"]]
    results = []
    with prepared() as fixtures:
        root = Path(fixtures["file"]).parent
        for index, case in enumerate(cases, 1):
            result = run_case(case, fixtures, root)
            status = "skip" if "skipped" in result else "ok" if result["ok"] else "FAIL"
            print(f"[{index}/{len(cases)}] {status:4s} {case['name']}: {result.get('message', '')}", flush=True)
            results.append(result)
        text = report(results, fixtures)
        meta = {"ro": fixtures.get("ro_kind"), "full": fixtures.get("full_kind")}
    ran = [r for r in results if "skipped" not in r]
    summary = {
        "git_commit": git_commit(),
        "machine": machine(),
        "fixtures": meta,
        "cases": len(ran),
        "meet_standard": sum(r["ok"] for r in ran),
        "skipped": len(results) - len(ran),
        "results": results,
    }
    write_text_atomic(options.out / "results.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(options.out / "report.md", text)
    print(text.split("\n## Every message")[0])


if __name__ == "__main__":
    main()
