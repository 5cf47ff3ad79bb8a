"""Run every model × upsample × size × backend a BenchConfig names; collect one row per measurement."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from edgeseg.bench.backends import BACKENDS, BenchBackend, unavailable_reason
from edgeseg.bench.config import BenchConfig, head_kwargs
from edgeseg.bench.environment import git_commit, machine, versions
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


def _file_mb(backend: BenchBackend, artifacts: dict[str, Any], params: int) -> float | None:
    if backend.framework == "torch":  # the weights as a checkpoint holds them, in the precision they run in
        return params * (2 if backend.precision == "fp16" else 4) / 1e6
    path = artifacts.get(backend.artifact)
    return path.stat().st_size / 1e6 if path is not None and path.is_file() else None


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
    video = None
    if config.e2e_frames and config.batch == 1 and any(b.runs_in_runtime for b in runnable):
        from edgeseg.data.synth import synth_video

        video = synth_video(config.out / "bench_clip.avi", frames=config.e2e_frames, width=640, height=480)
    common = {"threads": config.threads, "num_classes": config.num_classes, "batch": config.batch}
    peaks = {}
    for device in sorted({b.device for b in runnable}):
        result = run_worker({"kind": "gemm", "device": device, **common})
        peaks[device] = result.get("gflops")
        if peaks[device]:
            log(f"{device} FP32 matrix-product peak: {peaks[device]:.0f} GFLOP/s")

    rows = []
    for size in config.sizes:
        for model in config.models:
            for upsample in config.upsample:
                for head, model_kwargs in head_kwargs(model, config.heads):
                    variant = {"model": model, "upsample": upsample, "head": head, "model_kwargs": model_kwargs}
                    rows += _measure_variant(config, variant, size, runnable, video, common, peaks, log)
    return {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.time() - started, 1),
        "commit": git_commit(),
        "machine": machine(),
        "versions": versions(),
        "config": config.to_dict(),
        "peak_gflops": peaks,
        "backends": {b.name: b.label for b in backends},
        "skipped": skipped,
        "rows": rows,
    }


def _measure_variant(
    config: BenchConfig,
    variant: dict[str, Any],
    size: int,
    runnable: list[BenchBackend],
    video: Any,
    common: dict[str, Any],
    peaks: dict[str, Any],
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Rows of one model × upsample × head at one size: PyTorch once (logits), each exported output kind on
    the runtime backends."""
    from edgeseg.models.complexity import describe_model

    model, upsample, head = variant["model"], variant["upsample"], variant["head"]
    info = describe_model(
        model, upsample=upsample, height=size, width=size, num_classes=config.num_classes, **variant["model_kwargs"]
    )
    rows = []
    from edgeseg.bench.artifacts import CHECKPOINT, export_artifacts, prepare_checkpoint

    folder = config.out / "models" / "_".join(p for p in (model, upsample, head, str(size)) if p)
    stamp = {"model_kwargs": variant["model_kwargs"], "batch": config.batch, "calib_images": config.calib_images}
    checkpoint = prepare_checkpoint(folder, model, upsample, size, num_classes=config.num_classes, stamp=stamp)
    for output in config.outputs:
        wanted = {b.artifact for b in runnable} - {CHECKPOINT}
        artifacts: dict[str, Any] = {CHECKPOINT: checkpoint}
        failed: dict[str, str] = {}
        if wanted:
            exported, failed = export_artifacts(
                checkpoint,
                folder / output,
                output=output,
                size=size,
                batch=config.batch,
                wanted=wanted,
                calib_images=config.calib_images,
                log=log,
            )
            artifacts.update(exported)
        for backend in runnable:
            if backend.framework == "torch" and output != config.outputs[0]:
                continue  # PyTorch returns logits whatever the export's output: measured once
            row = {
                "model": model,
                "upsample": upsample,
                "head": head,
                "output": "logits" if backend.framework == "torch" else output,
                "backend": backend.name,
                "size": size,
                "batch": config.batch,
                "params_m": info["params"] / 1e6,
                "gflops": info["flops"] * config.batch / 1e9,
                "file_mb": _file_mb(backend, artifacts, info["params"]),
            }
            if backend.artifact in failed:
                rows.append({**row, "error": failed[backend.artifact]})
                log(_progress(rows[-1]))
                continue
            job = {
                "kind": "latency",
                **row,
                **common,
                "framework": backend.framework,
                "device": "cuda" if backend.device == "cuda" else "cpu",
                "precision": backend.precision,
                "provider": backend.provider,
                "artifact": str(artifacts[backend.artifact]),
                "runs": config.runs,
                "warmup": config.warmup,
                "video": str(video) if video and backend.runs_in_runtime else None,
                "e2e_frames": config.e2e_frames,
            }
            row.update(run_worker(job))
            if "error" not in row:
                row["achieved_gflops"] = row["gflops"] / (row["p50_ms"] / 1000)
                if peaks.get(backend.device) and backend.precision == "fp32":
                    row["share_of_peak"] = row["achieved_gflops"] / peaks[backend.device]
            log(_progress(row))
            rows.append(row)
    return rows


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
