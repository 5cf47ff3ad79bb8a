"""ONNX Runtime CPU latency and task-level accuracy of the FP32, FP16 and INT8 exports of one checkpoint.

    python benchmarks/export_precision_cpu.py CHECKPOINT --data DATA [--threads 2] [--runs 30]

Exports CHECKPOINT (at its training size, and at 512×512 for latency) with `edgeseg export`, then
for each precision: median / p90 latency over --runs after --warmup on one image, and the mIoU over
DATA's whole val split, all in one process run. Writes benchmarks/results/export_precision_cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from results_io import git_commit, machine, save, shown_path

from edgeseg.export.steps import ExportOptions, run_export
from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend


def latency_ms(path: Path, threads: int, runs: int, warmup: int) -> dict[str, float]:
    with OnnxRuntimeBackend(path, provider="cpu", threads=threads) as backend:
        shape = [d if isinstance(d, int) else 1 for d in backend.session.get_inputs()[0].shape]
        x = {backend.input_names[0]: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        for _ in range(warmup):
            backend.infer(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            backend.infer(x)
            times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90))}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("runs/bench_export"))
    parser.add_argument("--how", default="", help="How the checkpoint and data were made (goes into the report).")
    return parser.parse_args()


def export_at(args: argparse.Namespace, size: tuple[int, int] | None) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Export FP32, FP16 and INT8 at `size` (None: the training size, verified on the val split); returns the
    folder and the export's parity entries by precision."""
    out = args.work / (f"{size[0]}" if size else "native")
    options = ExportOptions(
        args.checkpoint,
        out=out,
        size=size,
        fp16=True,
        int8=True,
        calib=args.data,
        verify=args.data if size is None else None,
        verify_images=10_000,
        engine=False,
    )
    report = run_export(options, log=lambda m: None)
    return out, {p["name"].split()[1]: p for p in report["parity"] if p["name"].startswith("onnx ")}


def precision_rows(args: argparse.Namespace, label: str, out: Path, parity: dict[str, dict[str, Any]]) -> list[dict]:
    """One row per precision: file size, latency, and the task-level parity the export measured."""
    rows = []
    for precision, name in (("fp32", "model.onnx"), ("fp16", "model.fp16.onnx"), ("int8", "model.int8.onnx")):
        entry = parity.get(precision, {})
        rows.append(
            {
                "input": label,
                "precision": precision,
                "file_mb": round((out / name).stat().st_size / 1e6, 2),
                **latency_ms(out / name, args.threads, args.runs, args.warmup),
                "argmax_agreement": entry.get("argmax_agreement"),
                "mIoU": entry.get("candidate_mIoU"),
                "delta_mIoU": entry.get("delta_mIoU"),
                "reference_mIoU": entry.get("reference_mIoU"),
                "images": entry.get("images"),
            }
        )
    return rows


def markdown(result: dict[str, Any]) -> list[str]:
    lines = [
        "# ONNX Runtime CPU: FP32 vs FP16 vs INT8 exports",
        "",
        f"`{result['checkpoint']}` on `{result['data']}`, {result['threads']} threads, median of {result['runs']} "
        f"runs; commit {result['commit']}. mIoU over the val split at the training size (argmax agreement against "
        "PyTorch for FP32, against the FP32 reference otherwise).",
        "",
        *([result["how"], ""] if result["how"] else []),
        "| input | precision | file MB | median ms | p90 ms | argmax agreement | mIoU | ΔmIoU |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def fmt(value, pattern):
        return "—" if value is None else pattern.format(value)

    for r in result["rows"]:
        lines.append(
            f"| {r['input']} | {r['precision']} | {r['file_mb']} | {r['median_ms']:.2f} | {r['p90_ms']:.2f} | "
            f"{fmt(r['argmax_agreement'], '{:.4%}')} | {fmt(r['mIoU'], '{:.4f}')} | "
            f"{fmt(r['delta_mIoU'], '{:+.4f}')} |"
        )
    return lines


def main() -> None:
    args = parse_args()
    rows = []
    for label, size in (("training size", None), ("512×512", (512, 512))):
        out, parity = export_at(args, size)
        rows += precision_rows(args, label, out, parity)
    result = {
        "checkpoint": shown_path(args.checkpoint, "<checkpoint>"),
        "data": shown_path(args.data, "<data>"),
        "how": args.how,
        "threads": args.threads,
        "runs": args.runs,
        "machine": machine(),
        "commit": git_commit(),
        "rows": rows,
    }
    save("export_precision_cpu", result, markdown(result))


if __name__ == "__main__":
    main()
