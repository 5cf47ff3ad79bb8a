"""The benchmark's parts on their own: options, statistics, ratios, --compare, the CI facts."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from edgeseg.bench.compare import compare, load_results
from edgeseg.bench.config import build_config
from edgeseg.bench.report import decoder_ratios, markdown, speedups
from edgeseg.bench.suite import FORMAT, run_worker
from edgeseg.bench.worker import latency_stats, peak_rss_mb, rss_mb
from edgeseg.errors import EdgesegError

REPO = Path(__file__).resolve().parents[2]


def _check_facts():
    spec = importlib.util.spec_from_file_location("check_facts", REPO / "benchmarks" / "check_facts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check_facts


def _row(model, upsample, backend, p50, params=5.0, file_mb=20.0):
    return {
        "model": model,
        "upsample": upsample,
        "backend": backend,
        "size": 64,
        "batch": 1,
        "params_m": params,
        "gflops": 2.0,
        "file_mb": file_mb,
        "mean_ms": p50,
        "p50_ms": p50,
        "p90_ms": p50,
        "p99_ms": p50,
        "throughput_ips": 1000 / p50,
        "achieved_gflops": 2000 / p50,
        "memory_mb": 10.0,
    }


@pytest.fixture
def results():
    rows = [
        _row("m", "bilinear", "torch", 40.0, params=5.0),
        _row("m", "bilinear", "ort", 10.0, params=5.0),
        _row("m", "transposed", "torch", 50.0, params=6.0),
        _row("m", "transposed", "ort", 15.0, params=6.0),
    ]
    return {
        "format": FORMAT,
        "created": "2026-11-21T00:00:00",
        "commit": "abc1234",
        "machine": {"cpu": "cpu", "cores": 2, "os": "Linux", "gpu": None},
        "versions": {"edgeseg": "0.1.0"},
        "config": {
            "models": ["m"],
            "upsample": ["bilinear", "transposed"],
            "backends": ["torch", "ort", "trt"],
            "sizes": [64],
            "batch": 1,
            "runs": 3,
            "warmup": 1,
            "threads": 2,
            "e2e_frames": 0,
            "num_classes": 21,
        },
        "peak_gflops": {"cpu": 100.0},
        "skipped": {"trt": "TensorRT is not installed"},
        "rows": rows,
    }


def test_config_merges_and_checks():
    config = build_config({"models": "unet_vgg16, unet_classic", "sizes": "64,128", "runs": None, "threads": 2})
    assert config.models == ["unet_vgg16", "unet_classic"]
    assert config.sizes == [64, 128] and config.runs == 20 and config.threads == 2
    assert build_config({}).models  # default: every registered model
    # As YAML gives them: numbers as strings, one size alone, a backend named twice.
    yaml_like = build_config({"runs": "5", "sizes": 64, "backends": ["ort", "torch", "ort"]}, "bench.yaml")
    assert yaml_like.runs == 5 and yaml_like.sizes == [64] and yaml_like.backends == ["ort", "torch"]
    for bad, message in (
        ({"modles": "x"}, "unknown option"),
        ({"models": "nope"}, "unknown model 'nope'"),
        ({"backends": "ort,tensorflow"}, "--backends must be made of torch, .* only, got 'tensorflow'"),
        ({"upsample": "nearest"}, "--upsample must be made of bilinear, transposed only"),
        ({"sizes": "16"}, "--sizes must be a list of whole numbers ≥ 32"),
        ({"sizes": "big"}, "--sizes must be a list of whole numbers"),
        ({"threads": "all"}, "--threads must be a whole number"),
        ({"batch": 1.5}, "--batch must be a whole number"),
        ({"e2e_frames": True}, "--e2e-frames must be a whole number"),
        ({"num_classes": 1}, "--classes must be a whole number ≥ 2"),
        ({"runs": 0}, "--runs must be a whole number ≥ 1"),
    ):
        with pytest.raises(EdgesegError, match=message):
            build_config(bad)


def test_latency_statistics():
    stats = latency_stats([0.001 * k for k in range(1, 101)], batch=4)
    assert stats["p50_ms"] == pytest.approx(50.5)
    assert stats["p90_ms"] == pytest.approx(90.1)
    assert stats["p99_ms"] == pytest.approx(99.01)
    assert stats["mean_ms"] == pytest.approx(50.5)
    assert stats["throughput_ips"] == pytest.approx(4 * 1000 / 50.5)


def test_memory_readings_are_of_this_process():
    before = rss_mb()
    block = np.ones(64 * 2**20, np.uint8)  # 64 MiB, touched
    assert peak_rss_mb() >= before + 60
    del block


def test_ratios_and_speedups(results):
    (ratio,) = [q for q in decoder_ratios(results["rows"]) if q["backend"] == "ort"]
    assert ratio["params"] == pytest.approx(1.2) and ratio["p50"] == pytest.approx(1.5)
    found = {(s["upsample"], s["backend"]): s["x"] for s in speedups(results["rows"])}
    assert found == {("bilinear", "ort"): pytest.approx(4.0), ("transposed", "ort"): pytest.approx(50 / 15)}
    text = markdown(results)
    assert "## Bilinear vs transposed decoders" in text and "| m | ort | 64 | 1.200× | 1.000× | 1.500× |" in text
    assert "- trt: TensorRT is not installed" in text


def test_compare_flags_only_slowdowns_beyond_tolerance(results):
    old = copy.deepcopy(results)
    new = copy.deepcopy(results)
    new["rows"][1]["p50_ms"] = 10.5  # ort bilinear: +5 %, within 10 %
    new["rows"][3]["p50_ms"] = 18.0  # ort transposed: +20 %
    new["rows"][0]["p50_ms"] = 20.0  # faster is never a regression
    result = compare(new, old, tolerance=0.10)
    assert len(result.regressions) == 1 and "transposed ort 64" in result.regressions[0]
    assert any("+20.0% **regression**" in line for line in result.lines)
    assert compare(new, old, tolerance=0.25).regressions == []
    # A row that worked before and now fails, or is gone, is a regression too.
    new["rows"][1] = {**new["rows"][1], "error": "ONNX Runtime cannot load it"}
    new["rows"].pop(3)
    regressions = compare(new, old, tolerance=0.25).regressions
    assert regressions == [
        "m bilinear ort 64: failed now: ONNX Runtime cannot load it",
        "m transposed ort 64: not measured now",
    ]


def test_load_results_refuses_what_is_not_a_bench_result(tmp_path):
    with pytest.raises(EdgesegError, match="not found"):
        load_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EdgesegError, match="is not JSON"):
        load_results(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(EdgesegError, match=r"not an edgeseg bench results\.json"):
        load_results(tmp_path / "other.json")


def test_facts_check_can_fail(results):
    check_facts = _check_facts()
    assert check_facts(results) == []
    broken = copy.deepcopy(results)
    for row in broken["rows"]:
        row["params_m"] = 5.0
    assert any("not more than bilinear" in f for f in check_facts(broken))
    missing = copy.deepcopy(results)
    missing["rows"].pop()
    assert any("not measured and not skipped" in f for f in check_facts(missing))
    int8 = copy.deepcopy(results)
    int8["rows"].append({**_row("m", "bilinear", "ort-int8", 5.0, file_mb=15.0)})
    assert any("INT8 file" in f for f in check_facts(int8))


def test_worker_measures_a_real_onnx_model(tiny_onnx, tiny_video):
    job = {
        "kind": "latency",
        "framework": "ort",
        "provider": "cpu",
        "artifact": str(tiny_onnx),
        "size": 32,  # the tiny model's input size
        "batch": 1,
        "threads": 1,
        "runs": 3,
        "warmup": 1,
        "video": str(tiny_video),
        "e2e_frames": 5,
    }
    result = run_worker(job)
    assert "error" not in result, result
    assert result["p50_ms"] > 0 and result["p99_ms"] >= result["p50_ms"] and result["memory_mb"] > 0
    # The child's peak is its own: not inherited from this (torch-laden, larger) process across fork and exec.
    assert result["peak_rss_mb"] < rss_mb(), (result["peak_rss_mb"], rss_mb())
    assert result["e2e_frames"] == 5 and result["e2e_fps"] > 0
    assert "infer" in result["e2e_stages"]
    failed = run_worker({**job, "artifact": str(tiny_onnx.with_name("nope.onnx")), "video": None})
    assert "model not found" in failed["error"]


def test_command_line_options_and_help_defaults_come_from_the_config():
    import typer

    from edgeseg.bench.config import SCHEMA, BenchConfig
    from edgeseg.cli import app
    from edgeseg.cli.bench import FIELD_OF, NOT_SETTINGS
    from edgeseg.cli.options import default_help, given_options

    command = typer.main.get_command(app).commands["bench"]
    ctx = command.make_context("bench", ["--classes", "4", "--sizes", "64", "--config", "bench.yaml"])
    given = given_options(ctx, leave_out=NOT_SETTINGS, rename=FIELD_OF)
    assert given == {"num_classes": 4, "sizes": "64"}  # --classes is num_classes; --config is no setting
    options = {FIELD_OF.get(param.name, param.name) for param in command.params} - set(NOT_SETTINGS)
    assert options == set(SCHEMA)  # every option sets a BenchConfig field, every field has an option
    assert default_help(BenchConfig, "sizes") == "[default: 256,512]"
    assert default_help(BenchConfig, "runs") == f"[default: {BenchConfig().runs}]"
    assert default_help(BenchConfig, "threads") == "[default: every core]"
    assert build_config({}).upsample == ["bilinear", "transposed"]  # empty: every decoder the models have


def test_charts_keep_heads_and_output_kinds_apart():
    from edgeseg.bench.charts import decoder_panels

    rows = [
        {**_row("m", upsample, backend, p50, params=params), "head": head, "output": output}
        for upsample, params in (("bilinear", 5.0), ("transposed", 6.0))
        for head, p50 in (("separable", 10.0), ("dense", 20.0))
        for backend, output in (("torch", "logits"), ("ort", "classes"), ("ort", "logits"))
    ]
    panels = dict(decoder_panels(rows))
    assert list(panels) == [
        "Parameters, millions",
        "GFLOPs",
        "p50 ms, torch",
        "p50 ms, ort, classes out",
        "p50 ms, ort, logits out",
    ]
    assert panels["p50 ms, ort, classes out"] == {
        ("m\n(separable)", "bilinear"): 10.0,
        ("m\n(separable)", "transposed"): 10.0,
        ("m\n(dense)", "bilinear"): 20.0,
        ("m\n(dense)", "transposed"): 20.0,
    }
    assert panels["Parameters, millions"][("m\n(dense)", "transposed")] == 6.0
