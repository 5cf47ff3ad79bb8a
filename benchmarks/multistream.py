"""Several cameras, one engine: N streams batched in one `edgeseg run` against N separate `edgeseg run` processes.

    python benchmarks/multistream.py [--streams 1 2 4] [--size 256] [--frames 60] [--rounds 3] [--provider cpu]
        [--result NAME]

Both sides are the real command on the same generated 640×480 video (`edgeseg data video`), a separable DeepLabV3+
exported by `edgeseg export --dynamic-batch` (untrained, seeded: the cost depends on the shapes only), `edgeseg run
--provider P` (cpu: ONNX Runtime CPU with its default threads; cuda or tensorrt on a GPU machine, e.g. `--provider
cuda --size 512 --result multistream_cuda`), no window, no files written. Batched: one process, `--source V`
repeated N times. Separate: N processes started together, one source each. Measured per configuration: the
aggregate FPS (all frames of all streams over the wall time from the first start to the last exit), each stream's
end-to-end p50 latency (from its `--stats-json`), the steady FPS (each process's frames over its own loop time,
summed: start-up excluded), and the peak of the processes' summed resident memory (sampled every 20 ms). Rounds
alternate the two sides so that a change in the machine's load affects both. Writes
benchmarks/results/NAME.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_io import git_commit, machine, save

EDGESEG = str(Path(sys.executable).with_name("edgeseg"))
PROVIDERS = {"cpu": "ONNX Runtime CPU (default threads)", "cuda": "ONNX Runtime CUDA", "tensorrt": "TensorRT"}


def prepare(folder: Path, size: int, frames: int) -> tuple[Path, Path]:
    """The model (exported with a dynamic batch, through the product) and the video."""
    from edgeseg.bench.artifacts import prepare_checkpoint
    from edgeseg.bench.config import Variant
    from edgeseg.export.steps import ExportOptions, run_export

    variant = Variant("deeplabv3plus_mobilenetv2", "bilinear", "", {}, size)
    checkpoint = prepare_checkpoint(folder, variant, num_classes=4, stamp={"purpose": "multistream"})
    run_export(ExportOptions(checkpoint, out=folder / "export", engine=False, dynamic_batch=True), log=lambda m: None)
    video = folder / "clip.mp4"
    subprocess.run([EDGESEG, "data", "video", str(video), "--frames", str(frames)], check=True, capture_output=True)
    return folder / "export" / "model.onnx", video


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_processes(commands: list[list[str]]) -> tuple[float, float]:
    """Start every command at once; (wall seconds until the last exits, peak of their summed RSS in MB)."""
    started = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in commands]
    peak = 0.0
    while any(p.poll() is None for p in procs):
        peak = max(peak, sum(_rss_mb(p.pid) for p in procs))
        time.sleep(0.02)
    wall = time.perf_counter() - started
    for proc in procs:
        if proc.returncode != 0:
            raise SystemExit(f"edgeseg run failed: {proc.stderr.read()}")
    return wall, peak


def measure(model: Path, video: Path, streams: int, batched: bool, folder: Path, provider: str) -> dict[str, Any]:
    base = [EDGESEG, "run", "--model", str(model), "--no-show", "--provider", provider]
    if batched:
        stats = [folder / "batched.json"]
        commands = [[*base, *(["--source", str(video)] * streams), "--stats-json", str(stats[0])]]
    else:
        stats = [folder / f"separate{k}.json" for k in range(streams)]
        commands = [[*base, "--source", str(video), "--stats-json", str(path)] for path in stats]
    wall, peak = run_processes(commands)
    runs = [json.loads(path.read_text()) for path in stats]
    per_stream = [s for run in runs for s in run["streams"]]
    frames = sum(s["frames"] for s in per_stream)
    return {
        "fps": frames / wall,
        "steady_fps": sum(run["frames"] / run["seconds"] for run in runs),
        "frames": frames,
        "e2e_p50_ms": statistics.median(s["stages"]["end_to_end"]["p50_ms"] for s in per_stream),
        "infer_p50_ms": statistics.median(s["stages"]["infer"]["p50_ms"] for s in per_stream),
        "peak_rss_mb": peak,
    }


def markdown(result: dict[str, Any]) -> list[str]:
    provider = result.get("provider", "cpu")
    lines = [
        "# Several cameras, one engine: batched streams against separate processes",
        "",
        f"{result['machine']}; commit {result['commit']}; the machine was shared with other jobs, so only ratios "
        f"within a round mean much. Command: `{result['command']}`.",
        "",
        f"Each stream is the same {result['frames']}-frame 640×480 video; the model is a {result['size']}² separable "
        f"DeepLabV3+ exported with `--dynamic-batch`, on {PROVIDERS.get(provider, provider)}. Medians of "
        f"{result['rounds']} alternating rounds.",
        "",
        "| streams | batched FPS | separate FPS | batched ÷ separate | steady FPS batched / separate | "
        "e2e p50 batched / separate (ms) | peak memory batched / separate (MB) | memory saved | "
        "batched ÷ separate, each round |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        b, s = row["batched"], row["separate"]
        rounds = ", ".join(f"{x['fps'] / y['fps']:.2f}" for x, y in zip(row["batched_rounds"], row["separate_rounds"]))
        lines.append(
            f"| {row['streams']} | {b['fps']:.1f} | {s['fps']:.1f} | {row['fps_ratio']:.2f}× | "
            f"{b['steady_fps']:.1f} / {s['steady_fps']:.1f} | "
            f"{b['e2e_p50_ms']:.0f} / {s['e2e_p50_ms']:.0f} | {b['peak_rss_mb']:.0f} / {s['peak_rss_mb']:.0f} | "
            f"{100 * (1 - b['peak_rss_mb'] / s['peak_rss_mb']):.0f} % | {rounds} |"
        )
    lines += [
        "",
        "Aggregate FPS counts every frame of every stream over the wall time of the whole run, start-up included "
        "(each separate process loads its own model). With one stream both sides are the same command, so that "
        "row's rounds show how far two runs of one command drift apart on this machine; a ratio inside that "
        "spread is no difference. The ratio column is the median of the rounds' ratios.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--provider", default="cpu", help="edgeseg run's --provider: cpu, cuda or tensorrt")
    parser.add_argument("--result", default="multistream_cpu")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeseg-multistream-") as tmp:
        folder = Path(tmp)
        model, video = prepare(folder, args.size, args.frames)
        for streams in args.streams:
            rounds: dict[str, list[dict[str, Any]]] = {"batched": [], "separate": []}
            for round_ in range(args.rounds):
                order = ("batched", "separate") if round_ % 2 == 0 else ("separate", "batched")
                for side in order:
                    rounds[side].append(measure(model, video, streams, side == "batched", folder, args.provider))
            row: dict[str, Any] = {"streams": streams}
            for side, measured in rounds.items():
                row[side] = {key: statistics.median(m[key] for m in measured) for key in measured[0]}
                row[f"{side}_rounds"] = measured
            ratios = [b["fps"] / s["fps"] for b, s in zip(rounds["batched"], rounds["separate"])]
            row["fps_ratio"] = statistics.median(ratios)
            rows.append(row)
            print(row["streams"], row["batched"], row["separate"], flush=True)
    command = (
        f"python benchmarks/multistream.py --streams {' '.join(map(str, args.streams))} --size {args.size} "
        f"--frames {args.frames} --rounds {args.rounds} --provider {args.provider}"
    )
    result = {
        "rows": rows, "size": args.size, "frames": args.frames, "rounds": args.rounds, "machine": machine(),
        "commit": git_commit(), "command": command, "provider": args.provider,
    }  # fmt: skip
    save(args.result, result, markdown(result), paths={tmp: "<tmp>"})


if __name__ == "__main__":
    main()
