"""The real `edgeseg` console script, run in subprocesses."""

from __future__ import annotations

import json

from edgeseg import __version__

ZOO = ("deeplabv3plus_mobilenetv2", "pidnet_s", "pidnet_m", "pidnet_l", "unet_vgg16", "unet_resnet50", "unet_classic")


def test_help_lists_only_working_commands(run_edgeseg):
    result = run_edgeseg("--help")
    assert result.returncode == 0
    for command in ("models", "data", "train", "eval", "export", "run", "explain", "bench", "quickstart"):
        assert f" {command} " in result.stdout


def test_version(run_edgeseg):
    result = run_edgeseg("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"edgeseg {__version__}"


def test_models_table(run_edgeseg):
    result = run_edgeseg("models", "--size", "128")
    assert result.returncode == 0, result.stderr
    assert "at 128×128" in result.stdout
    for name in ZOO:
        assert name in result.stdout


def test_models_json(run_edgeseg):
    result = run_edgeseg("models", "--size", "64x96", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {(r["model"], r["upsample"]) for r in rows} == {(m, u) for m in ZOO for u in ("bilinear", "transposed")}
    assert all(r["input"] == [64, 96] and r["gflops"] > 0 for r in rows)


def test_bad_size_is_a_clear_error(run_edgeseg):
    result = run_edgeseg("models", "--size", "abc")
    assert result.returncode != 0
    assert result.stderr == "error: --size must be S, HxW or [height, width] with each side ≥ 16, got 'abc'\n"
    assert "Traceback" not in result.stderr


def test_missing_torch_names_the_extra(run_python_without):
    result = run_python_without(
        "sys.argv = ['edgeseg', 'models']\nfrom edgeseg.cli import main\nmain()\n", blocked=("torch",)
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: torch is not installed (No module named 'torch' (blocked by the test)); "
        "install it with: pip install 'edgeseg[train]'"
    )
