"""The public CI compares its benchmark run against a committed baseline: that file must exist, be a results.json
that `edgeseg bench --compare` accepts, and have been measured with the same CI configuration (else every row
would read as "not measured now"). actionlint checks the workflow's syntax in .ci/run; this checks its wiring."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from edgeseg.bench.compare import compare, load_results
from edgeseg.bench.config import build_config
from edgeseg.train.config import load_yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def _bench_command() -> str:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["bench"]["steps"]
    commands = [s["run"] for s in steps if "edgeseg bench" in s.get("run", "")]
    assert len(commands) == 1
    return commands[0].replace("\\\n", " ")


def test_workflow_benches_the_ci_config_against_the_committed_baseline():
    command = _bench_command()
    config = re.search(r"--config (\S+)", command).group(1)
    baseline = REPO / re.search(r"--compare (\S+)", command).group(1)
    assert config == "benchmarks/configs/ci.yaml"
    old = load_results(baseline)
    wanted = build_config(load_yaml(REPO / config), config)
    for setting in ("backends", "heads", "outputs", "sizes", "runs", "warmup", "threads"):
        assert old["config"][setting] == getattr(wanted, setting), setting
    assert all("error" not in row for row in old["rows"])
    assert compare(old, old, 0.10).regressions == []  # every baseline row is comparable with a run like it


def test_regressions_are_information_not_failure():
    command = _bench_command()
    assert "|| status=$?" in command and '"$status" -ne 3' in command  # exit 3 (slower) passes; others fail
