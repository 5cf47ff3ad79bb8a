"""`edgeseg bench` end to end in a subprocess: real exports, real ONNX Runtime and PyTorch, real files."""

from __future__ import annotations

import importlib.util
import json

import pytest

from edgeseg.bench.paths import shown_path
from tests.bench.test_bench_units import _check_facts

pytestmark = pytest.mark.slow


def test_bench_writes_results_report_and_charts_and_compares(run_edgeseg, tmp_path):
    out = tmp_path / "bench"
    args = ["bench", "--models", "deeplabv3plus_mobilenetv2", "--upsample", "bilinear,transposed"]
    args += ["--heads", "separable,dense", "--outputs", "classes"]
    args += ["--backends", "torch,ort,ort-int8,trt", "--sizes", "32"]
    args += ["--runs", "2", "--warmup", "0", "--threads", "1", "--e2e-frames", "3", "--out", str(out)]
    first = run_edgeseg(*args)
    assert first.returncode == 0, first.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["format"] == "edgeseg-bench/1" and results["commit"] and results["machine"]["cores"]
    assert results["config"]["threads"] == 1 and results["versions"]["torch"].startswith("2.13")
    if importlib.util.find_spec("tensorrt") is None:
        assert "TensorRT is not installed" in results["skipped"]["trt"]
        assert len(results["rows"]) == 2 * 2 * 3  # upsample × head × backend
    assert {(r["head"], r["output"]) for r in results["rows"] if r["backend"] != "torch"} == {
        ("separable", "classes"),
        ("dense", "classes"),
    }
    assert _check_facts()(results) == []
    for row in results["rows"]:
        assert row["p50_ms"] > 0 and row["file_mb"] > 0 and row["gflops"] > 0
        assert ("e2e_fps" in row) == (row["backend"] != "torch") == ("host_ms" in row)
    report = (out / "report.md").read_text()
    assert report in first.stdout  # the report is also printed
    # Read on other machines: the output folder as a placeholder, and the command that measures it again.
    assert results["config"]["out"] == shown_path(out, "<out>") and not results["config"]["out"].startswith("/")
    assert results["command"] == "edgeseg bench " + " ".join(args[1:-1]) + f" {results['config']['out']}"
    assert f"Rerun: `{results['command']}`." in report and str(tmp_path) not in report
    headings = ("## Latency", "## Bilinear vs transposed decoders", "## Separable vs dense DeepLabV3+ heads")
    for heading in (*headings, "## Against PyTorch eager", "## Not measured"):
        assert heading in report
    for chart in ("latency_32.png", "decoders.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "exporting" not in run_edgeseg(*args).stderr  # exports are reused

    # A baseline ten times faster than anything measured: every row is a regression, exit status 3.
    for row in results["rows"]:
        row["p50_ms"] /= 10
    (tmp_path / "fast.json").write_text(json.dumps(results))
    slower = run_edgeseg(*args, "--compare", str(tmp_path / "fast.json"))
    assert slower.returncode == 3, slower.stderr
    assert f"{len(results['rows'])} regression(s) beyond 10%" in slower.stderr and "**regression**" in slower.stdout
    lenient = run_edgeseg(*args, "--compare", str(tmp_path / "fast.json"), "--tolerance", "1000")
    assert lenient.returncode == 0, lenient.stderr


def test_bench_from_a_config_file_with_a_batch(run_edgeseg, tmp_path):
    config = tmp_path / "bench.yaml"
    config.write_text(
        "models: [deeplabv3plus_mobilenetv2]\nupsample: bilinear\nbackends: torch,ort\nsizes: [32]\nbatch: 3\nruns: 7\n"
        "heads: [dense]\noutputs: classes,logits\n"
    )
    out = tmp_path / "bench"
    flags = ["--runs", "2", "--batch", "2", "--warmup", "1", "--e2e-frames", "0", "--out", out]
    result = run_edgeseg("bench", "--config", config, *flags)
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["runs"] == 2 and results["config"]["batch"] == 2  # the command line wins over the file
    rows = [(r["backend"], r["head"], r["output"], r["batch"]) for r in results["rows"]]
    assert rows == [("torch", "dense", "logits", 2), ("ort", "dense", "classes", 2), ("ort", "dense", "logits", 2)]
    for row in results["rows"]:
        assert row["throughput_ips"] == pytest.approx(2000 / row["mean_ms"]) and "e2e_fps" not in row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "resnet9000"], "unknown model 'resnet9000'"),
        pytest.param(
            ["--backends", "trt"],
            "none of the requested backends can run here",
            marks=pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is here"),
        ),
        (["--compare", "missing.json"], "results file not found: missing.json"),
        (["--config", "missing.yaml"], "config file not found"),
        (["--heads", "wide"], "--heads must be made of separable, dense only, got 'wide'"),
    ],
)
def test_bench_bad_input_is_one_line(run_edgeseg, tmp_path, args, message):
    result = run_edgeseg("bench", "--sizes", "32", "--out", str(tmp_path), *args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs the openvino extra")
def test_bench_openvino_rows_beside_onnx_runtime(run_edgeseg, tmp_path):
    out = tmp_path / "bench"
    args = ["bench", "--models", "deeplabv3plus_mobilenetv2", "--upsample", "bilinear", "--heads", "separable"]
    args += ["--outputs", "classes", "--backends", "ort,openvino,openvino-bf16,openvino-int8", "--sizes", "32"]
    args += ["--runs", "2", "--warmup", "1", "--threads", "1", "--e2e-frames", "2", "--calib-images", "2"]
    done = run_edgeseg(*args, "--out", out)
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    rows = {r["backend"]: r for r in results["rows"]}
    assert set(rows) == {"ort", "openvino", "openvino-bf16", "openvino-int8"} and not results["skipped"]
    assert results["versions"]["openvino"] and results["machine"]["instruction_sets"]
    for name in ("openvino", "openvino-bf16", "openvino-int8"):
        assert rows[name]["p50_ms"] > 0 and rows[name]["e2e_fps"] > 0  # raw and through `edgeseg run`'s pipeline
        assert rows[name]["backend_settings"]["device"] == "CPU"
    assert rows["openvino"]["backend_settings"]["precision"] == "f32"
    assert rows["openvino-bf16"]["backend_settings"]["precision_hint"] == "bf16"
    assert rows["openvino-int8"]["file_mb"] < rows["openvino"]["file_mb"] / 2  # the model.int8.onnx ONNX Runtime ran
    report = (out / "report.md").read_text()
    assert "## OpenVINO against ONNX Runtime" in report
    if rows["openvino-bf16"]["backend_settings"]["precision"] == "f32":
        assert "openvino-bf16 (runs f32)" in report  # a CPU without bf16 hardware: said where the row is shown
