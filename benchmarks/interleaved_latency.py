"""ONNX Runtime CPU latency of several ONNX files measured round-robin, so load from other processes
falls on all of them alike (a shared machine's load drifts over minutes; back-to-back rows do not
share it).

    python benchmarks/interleaved_latency.py LABEL=FILE.onnx [LABEL=FILE.onnx ...] [--rounds 15]
        [--threads 2] [--result interleaved_latency] [--note TEXT]

Each round runs every file once in turn after one untimed warm-up each; medians and ratios to the
first file are reported. Writes benchmarks/results/RESULT.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from results_io import git_commit, machine, save

from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="LABEL=PATH of an .onnx file")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--result", default="interleaved_latency")
    parser.add_argument("--note", default="", help="what the files are (goes into the report)")
    args = parser.parse_args()

    models = {}
    for item in args.files:
        label, path = item.split("=", 1)
        backend = OnnxRuntimeBackend(Path(path), provider="cpu", threads=args.threads)
        shape = [d if isinstance(d, int) else 1 for d in backend.session.get_inputs()[0].shape]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        backend.infer({backend.input_names[0]: x})  # warm-up
        models[label] = (backend, {backend.input_names[0]: x}, Path(path))
    times: dict[str, list[float]] = {label: [] for label in models}
    for _ in range(args.rounds):
        for label, (backend, feed, _) in models.items():
            start = time.perf_counter()
            backend.infer(feed)
            times[label].append(1000 * (time.perf_counter() - start))
    first = next(iter(models))
    rows = [
        {
            "label": label,
            "file": str(path),
            "file_mb": round(path.stat().st_size / 1e6, 2),
            "p50_ms": statistics.median(times[label]),
            "min_ms": min(times[label]),
            "x_vs_first": statistics.median(times[first]) / statistics.median(times[label]),
        }
        for label, (_, _, path) in models.items()
    ]
    result = {
        "commit": git_commit(),
        "machine": machine(),
        "load_average": os.getloadavg(),
        "settings": {k: v for k, v in vars(args).items() if k != "files"},
        "rows": rows,
    }
    lines = [
        "# ONNX Runtime CPU latency, measured round-robin",
        "",
        f"{args.note} {args.rounds} rounds, {args.threads} threads; commit {result['commit']}, {result['machine']}; "
        f"load average at the end {result['load_average'][0]:.1f} (other processes on the machine). "
        f"Speed-up: p50 of {first} ÷ p50 of the row.",
        "",
        "| model | file MB | p50 ms | min ms | speed-up vs first |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['file_mb']} | {r['p50_ms']:.1f} | {r['min_ms']:.1f} | {r['x_vs_first']:.2f}× |"
        )
    save(args.result, result, lines)


if __name__ == "__main__":
    main()
