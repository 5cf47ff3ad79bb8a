"""What a report records about where it ran: the CPU and its instruction sets, paths relative to the repository or
as placeholders (never a folder of the machine), and the command that measures it again."""

from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path

from edgeseg.bench.environment import describe_machine, instruction_sets, machine
from edgeseg.bench.paths import REPOSITORY, scrub, shown_path
from edgeseg.bench.report import markdown
from edgeseg.bench.suite import FORMAT
from edgeseg.cli.bench import rerun_command

REPO = Path(__file__).resolve().parents[2]
# The first lines of /proc/cpuinfo on two machines of the kind the benchmarks ran on (flags shortened).
XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse4_2 avx f16c avx2 fma avx512f avx512dq avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8
"""
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse4_1 sse4_2 avx f16c sse4a avx2 fma
"""


def test_instruction_sets_are_read_from_cpuinfo():
    xeon = ["AVX2", "AVX-512", "AVX-512 VNNI", "AVX-512 BF16", "AVX-512 FP16", "AMX", "AMX-BF16", "AMX-INT8"]
    assert instruction_sets(XEON) == xeon
    assert instruction_sets(EPYC) == ["AVX2"]
    assert instruction_sets("processor : 0\n") is None  # no flags line: unknown, not "none"
    here = machine()
    assert "instruction_sets" in here and here["cpu"]


def test_machine_description_names_what_the_cpu_has_and_lacks():
    base = {"cores": 2, "os": "Linux 6", "gpu": None}
    amd = describe_machine({**base, "cpu": "AMD EPYC", "instruction_sets": ["AVX2"]})
    assert amd == "AMD EPYC (AVX2; no AVX-512, VNNI or AMX), 2 cores, Linux 6, no GPU"
    xeon = describe_machine({**base, "cpu": "Xeon", "instruction_sets": instruction_sets(XEON)})
    assert xeon.startswith("Xeon (AVX2, AVX-512, AVX-512 VNNI, AVX-512 BF16, AVX-512 FP16, AMX, AMX-BF16, AMX-INT8), 2")
    vnni_only = describe_machine({**base, "cpu": "Core", "instruction_sets": ["AVX2", "AVX-VNNI"]})
    assert "(AVX2, AVX-VNNI; no AVX-512 or AMX)" in vnni_only
    assert "(instruction sets not readable here)" in describe_machine({**base, "cpu": "M2", "instruction_sets": None})
    assert describe_machine({**base, "cpu": "AMD EPYC"}).startswith("AMD EPYC, 2 cores")  # results from before


def test_paths_are_shown_relative_to_the_repository_or_as_placeholders():
    assert REPOSITORY == REPO
    assert shown_path(REPO / "runs" / "qs96" / "data", "<data>") == "runs/qs96/data"
    temporary = Path(tempfile.gettempdir()) / "edgeseg-x" / "model.pt"
    assert shown_path(temporary, "<checkpoint>") == "<tmp>/edgeseg-x/model.pt"
    assert shown_path("/no-such-root-folder/runs/data", "<data>") == "<data>"
    assert shown_path(REPO.parent / "runs" / "data", "<data>") == "<data>"  # ../runs: outside the repository


def test_scrub_names_folders_by_their_placeholders_whole_and_longest_first():
    tmp = Path(tempfile.gettempdir())
    case, fixtures = tmp / "edgeseg-case-ab12", tmp / "edgeseg-sweep-cd34"
    text = (
        f"error: {case}/model.pt is a text file; {fixtures}/data/VOCdevkit, {fixtures}/data2, {fixtures}/ro. "
        f"{fixtures}/runs/tiny/weights/best.pt; {REPO}/runs/x and ({REPO}); ../runs/i6c/data; /var{tmp}/x"
    )
    named = {case: "<tmp>", fixtures / "data": "<data>", fixtures / "ro": "<ro>", fixtures: "<fixtures>"}
    named.update({fixtures / "runs/tiny/weights/best.pt": "<ckpt>", "../runs/i6c/data": "<data>"})
    assert scrub(text, named) == (
        "error: <tmp>/model.pt is a text file; <data>/VOCdevkit, <fixtures>/data2, <ro>. <ckpt>; runs/x and (.); "
        f"<data>; /var{tmp}/x"
    )
    assert scrub(f"left in {tmp}/abc") == "left in <tmp>/abc"  # the temporary folder, unnamed by the caller
    assert scrub(f"home {Path.home()}/x") == "home ~/x"


def _results(**extra):
    return {
        "format": FORMAT,
        "created": "2026-12-01T00:00:00",
        "commit": "abc1234",
        "machine": {"cpu": "AMD EPYC", "instruction_sets": ["AVX2"], "cores": 2, "os": "Linux", "gpu": None},
        "versions": {"edgeseg": "0.1.0"},
        "config": {"batch": 1, "runs": 3, "warmup": 1, "threads": 2, "e2e_frames": 0, "num_classes": 21},
        "peak_gflops": {},
        "skipped": {},
        "rows": [],
        **extra,
    }


def test_bench_report_names_the_instruction_sets_and_the_command_to_rerun():
    command = "edgeseg bench --config benchmarks/configs/cpu_512.yaml --out benchmarks/results/bench_cpu_512"
    report = markdown(_results(command=command))
    assert "AMD EPYC (AVX2; no AVX-512, VNNI or AMX), 2 cores" in report.splitlines()[2]
    assert f"Rerun: `{command}`." in report
    assert "Rerun" not in markdown(_results())  # results written before the command was recorded


def test_rerun_command_names_the_config_and_options_as_given_with_portable_paths():
    config = REPO / "benchmarks" / "configs" / "cpu_512.yaml"
    out = Path(tempfile.gettempdir()) / "edgeseg-bench-x"
    given = {"sizes": "32", "runs": 1, "num_classes": 5, "out": out}
    assert rerun_command(config, given) == (
        "edgeseg bench --config benchmarks/configs/cpu_512.yaml --sizes 32 --runs 1 --classes 5 "
        "--out <tmp>/edgeseg-bench-x"
    )
    assert rerun_command(None, {"out": REPO / "benchmarks" / "results" / "bench_cpu_512"}) == (
        "edgeseg bench --out benchmarks/results/bench_cpu_512"
    )
    assert rerun_command(None, {"out": Path("/no-such-root-folder/bench")}) == "edgeseg bench --out <out>"


def test_the_sweep_records_its_folders_as_placeholders():
    sweep = importlib.import_module("benchmarks.bad_inputs.sweep")
    tmp = Path(tempfile.gettempdir())
    root = tmp / "edgeseg-sweep-ab"
    values = {
        "tmp": str(tmp / "edgeseg-case-cd"),
        "data": str(root / "data"),
        "ckpt": str(root / "runs" / "tiny" / "weights" / "best.pt"),
        "ro": str(root / "ro"),
        "ro_kind": "read-only tmpfs mount",
    }
    result = {
        "name": "case",
        "args": ["train", "--data", values["data"], "--resume", values["ckpt"], "--project", f"{values['ro']}/out"],
        "message": f"error: {values['tmp']}/model.pt is a text file",
        "stderr_tail": f"OSError: [Errno 30] Read-only file system: '{values['ro']}/out'",
        "changes": [f"new {values['tmp']}/runs", f"new {root}/other"],
        "seconds": 1.5,
    }
    recorded = sweep.as_recorded(result, values, root)
    assert recorded["args"] == ["train", "--data", "<data>", "--resume", "<ckpt>", "--project", "<ro>/out"]
    assert recorded["message"] == "error: <tmp>/model.pt is a text file"
    assert recorded["stderr_tail"] == "OSError: [Errno 30] Read-only file system: '<ro>/out'"
    assert recorded["changes"] == ["new <tmp>/runs", "new <fixtures>/other"]
    assert recorded["seconds"] == 1.5 and str(tmp) not in json.dumps(recorded)


def test_the_sweep_report_shows_placeholders_where_markdown_would_hide_them():
    sweep = importlib.import_module("benchmarks.bad_inputs.sweep")
    result = {"name": "case", "module": "cases_x", "ok": True, "returncode": 1, "checks": {}}
    text = sweep.report([{**result, "message": "error: <tmp>/model.pt | runs/<name>/weights/best.pt"}], {})
    assert "| case | 1 | error: &lt;tmp&gt;/model.pt / runs/&lt;name&gt;/weights/best.pt |" in text  # not HTML tags
