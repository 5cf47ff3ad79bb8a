"""Run every model × upsample × head × size × backend a BenchConfig names; collect one row per measurement."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeseg.bench.config import BenchConfig, Variant, variants
from edgeseg.bench.environment import git_commit, machine, versions
from edgeseg.bench.paths import scrub, shown_path
from edgeseg.bench.settings import BACKENDS, BackendSetting, unavailable_reason
from edgeseg.errors import EdgesegError

FORMAT = "edgeseg-bench/1"


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    """One measurement in a fresh Python process (see edgeseg.bench.worker)."""
    done = subprocess.run(
        [sys.executable, "-m", "edgeseg.bench.worker"], input=json.dumps(job), capture_output=True, text=True
    )
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"error": f"the measuring process failed: {tail}"}


def run_suite(config: BenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure everything `config` asks for; returns the results document (also what --compare reads)."""
    started = time.time()
    backends = [BACKENDS[name] for name in config.backends]
    skipped = {b.name: reason for b in backends if (reason := unavailable_reason(b))}
    for name, reason in skipped.items():
        log(f"skipping {name}: {reason}")
    runnable = [b for b in backends if b.name not in skipped]
    if not runnable:
        raise EdgesegError("none of the requested backends can run here (reasons above); try --backends torch,ort")
    config.out.mkdir(parents=True, exist_ok=True)
    video = _video(config, runnable)
    peaks = _peaks(config, runnable, log)
    rows = []
    for variant in variants(config):
        rows += _measure_variant(config, variant, runnable, video, peaks, log)
    # A report is read on other machines: the output folder is named as the command line would name it again.
    out = {config.out: shown_path(config.out, "<out>")}
    rows = [{k: scrub(v, out) if k in ("error", "e2e_error") else v for k, v in row.items()} for row in rows]
    return {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.time() - started, 1),
        "commit": git_commit(),
        "machine": machine(),
        "versions": versions(),
        "config": {**config.to_dict(), "out": out[config.out]},
        "peak_gflops": peaks,
        "backends": {b.name: b.label for b in backends},
        "skipped": {name: scrub(reason, out) for name, reason in skipped.items()},
        "rows": rows,
    }


def _video(config: BenchConfig, runnable: list[BackendSetting]) -> Path | None:
    """The clip `edgeseg run` is measured end to end on, where a runtime backend at batch 1 asks for one."""
    if not (config.e2e_frames and config.batch == 1 and any(b.runs_in_runtime for b in runnable)):
        return None
    from edgeseg.data.synth import synth_video

    return synth_video(config.out / "bench_clip.avi", frames=config.e2e_frames, width=640, height=480)


def _peaks(config: BenchConfig, runnable: list[BackendSetting], log: Callable[[str], None]) -> dict[str, Any]:
    """The FP32 matrix-product GFLOP/s of each device measured, which the rows' achieved GFLOP/s are shown against."""
    peaks = {}
    for device in sorted({b.device for b in runnable}):
        peaks[device] = run_worker({"kind": "gemm", "device": device, "threads": config.threads}).get("gflops")
        if peaks[device]:
            log(f"{device} FP32 matrix-product peak: {peaks[device]:.0f} GFLOP/s")
    return peaks


def _measure_variant(
    config: BenchConfig,
    variant: Variant,
    runnable: list[BackendSetting],
    video: Path | None,
    peaks: dict[str, Any],
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Rows of one variant: PyTorch once (logits), each exported output kind on the runtime backends."""
    from edgeseg.bench.artifacts import CHECKPOINT, export_artifacts, prepare_checkpoint
    from edgeseg.models.complexity import describe_model

    info = describe_model(
        variant.model,
        upsample=variant.upsample,
        height=variant.size,
        width=variant.size,
        num_classes=config.num_classes,
        **variant.model_kwargs,
    )
    folder = config.out / "models" / variant.name
    stamp = {"batch": config.batch, "calib_images": config.calib_images}
    checkpoint = prepare_checkpoint(folder, variant, num_classes=config.num_classes, stamp=stamp)
    rows = []
    for output in config.outputs:
        artifacts, failed = {CHECKPOINT: checkpoint}, {}
        wanted = {b.artifact for b in runnable} - {CHECKPOINT}
        if wanted:
            exported, failed = export_artifacts(
                checkpoint,
                folder / output,
                output=output,
                size=variant.size,
                batch=config.batch,
                wanted=wanted,
                calib_images=config.calib_images,
                log=log,
            )
            artifacts.update(exported)
        for backend in runnable:
            if backend.framework == "torch" and output != config.outputs[0]:
                continue  # PyTorch returns logits whatever the export's output: measured once
            row = _row(config, variant, backend, output, info, artifacts.get(backend.artifact))
            if backend.artifact in failed:
                row["error"] = failed[backend.artifact]
            else:
                row.update(_measure(config, row, backend, artifacts[backend.artifact], video, peaks))
            log(_progress(row))
            rows.append(row)
    return rows


def _row(
    config: BenchConfig, variant: Variant, backend: BackendSetting, output: str, info: dict[str, Any], file: Path | None
) -> dict[str, Any]:
    """What a row is, before it is measured: the variant, the backend, and the model's size and cost."""
    if backend.framework == "torch":  # the weights as a checkpoint holds them, in the precision they run in
        file_mb = info["params"] * (2 if backend.precision == "fp16" else 4) / 1e6
    else:
        file_mb = file.stat().st_size / 1e6 if file is not None and file.is_file() else None
    return {
        "model": variant.model,
        "upsample": variant.upsample,
        "head": variant.head,
        "output": "logits" if backend.framework == "torch" else output,
        "backend": backend.name,
        "size": variant.size,
        "batch": config.batch,
        "params_m": info["params"] / 1e6,
        "gflops": info["flops"] * config.batch / 1e9,
        "file_mb": file_mb,
    }


def _measure(
    config: BenchConfig,
    row: dict[str, Any],
    backend: BackendSetting,
    artifact: Path,
    video: Path | None,
    peaks: dict[str, Any],
) -> dict[str, Any]:
    """One row's measurement in its own process, and what it achieved against the device's peak."""
    job = {
        "kind": "latency",
        **row,
        "threads": config.threads,
        "num_classes": config.num_classes,
        "framework": backend.framework,
        "device": "cuda" if backend.device == "cuda" else "cpu",
        "precision": backend.precision,
        "provider": backend.provider,
        "precision_hint": backend.precision_hint,
        "artifact": str(artifact),
        "runs": config.runs,
        "warmup": config.warmup,
        "video": str(video) if video and backend.runs_in_runtime else None,
        "e2e_frames": config.e2e_frames,
    }
    result = run_worker(job)
    if "error" not in result:
        result["achieved_gflops"] = row["gflops"] / (result["p50_ms"] / 1000)
        if peaks.get(backend.device) and backend.precision == "fp32":
            result["share_of_peak"] = result["achieved_gflops"] / peaks[backend.device]
    return result


def _progress(row: dict[str, Any]) -> str:
    where = " ".join(
        str(p) for p in (row["model"], row["upsample"], row.get("head"), row.get("output"), f"{row['size']}²") if p
    )
    where += f" {row['backend']}"
    if "error" in row:
        return f"{where}: failed: {row['error']}"
    text = f"{where}: p50 {row['p50_ms']:.1f} ms, {row['throughput_ips']:.1f} img/s"
    if "e2e_fps" in row:
        text += f", end to end {row['e2e_fps']:.1f} FPS ({row['e2e_ratio']:.0%} of raw)"
    if "host_ms" in row:
        text += f", host pre+post+render {row['host_ms']:.2f} ms"
    if "e2e_error" in row:
        text += f", end to end failed: {row['e2e_error']}"
    return text
