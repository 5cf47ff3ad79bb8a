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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from results_io import git_commit, machine, save, shown_path

from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="LABEL=PATH of an .onnx file")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--result", default="interleaved_latency")
    parser.add_argument("--note", default="", help="what the files are (goes into the report)")
    parser.add_argument("--work", type=Path, help="the folder that holds the files, named <work> in the report")
    return parser.parse_args()


@dataclass
class Model:
    backend: OnnxRuntimeBackend
    feed: dict[str, np.ndarray]
    path: Path


def open_models(files: list[str], threads: int) -> dict[str, Model]:
    """LABEL=PATH → an ONNX Runtime session on the CPU with a random input, warmed up once."""
    models = {}
    for item in files:
        label, path = item.split("=", 1)
        backend = OnnxRuntimeBackend(Path(path), provider="cpu", threads=threads)
        shape = [d if isinstance(d, int) else 1 for d in backend.session.get_inputs()[0].shape]
        feed = {backend.input_names[0]: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        backend.infer(feed)  # warm-up
        models[label] = Model(backend, feed, Path(path))
    return models


def round_robin(models: dict[str, Model], rounds: int) -> dict[str, list[float]]:
    """Milliseconds of each model's inference, every model once per round, in turn."""
    times: dict[str, list[float]] = {label: [] for label in models}
    for _ in range(rounds):
        for label, model in models.items():
            start = time.perf_counter()
            model.backend.infer(model.feed)
            times[label].append(1000 * (time.perf_counter() - start))
    return times


def rows_of(models: dict[str, Model], times: dict[str, list[float]]) -> list[dict]:
    first = next(iter(models))
    return [
        {
            "label": label,
            "file": str(model.path),
            "file_mb": round(model.path.stat().st_size / 1e6, 2),
            "p50_ms": statistics.median(times[label]),
            "min_ms": min(times[label]),
            "x_vs_first": statistics.median(times[first]) / statistics.median(times[label]),
        }
        for label, model in models.items()
    ]


def markdown(result: dict, args: argparse.Namespace) -> list[str]:
    first = result["rows"][0]["label"]
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
    for r in result["rows"]:
        lines.append(
            f"| {r['label']} | {r['file_mb']} | {r['p50_ms']:.1f} | {r['min_ms']:.1f} | {r['x_vs_first']:.2f}× |"
        )
    return lines


def main() -> None:
    args = parse_args()
    models = open_models(args.files, args.threads)
    times = round_robin(models, args.rounds)
    result = {
        "commit": git_commit(),
        "machine": machine(),
        "load_average": os.getloadavg(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("files", "work")},
        "rows": rows_of(models, times),
    }
    work = {args.work: shown_path(args.work, "<work>")} if args.work else {}
    save(args.result, result, markdown(result, args), paths=work)


if __name__ == "__main__":
    main()
