"""A camera run that lasts: the real run loop for many minutes on a camera that misbehaves, measured per window.

    python benchmarks/soak.py [--minutes 30] [--window 300] [--camera-fps 200] [--size 64] [--result soak]

What runs is `edgeseg run`'s own loop (`RunLoop`) in this process, on a separable DeepLabV3+ exported by the
product (untrained, seeded: the cost depends on the shapes, not the weights) through ONNX Runtime on one thread.
The camera is `CaptureSource`, the class `edgeseg run --camera` uses, over a generated camera at the hardware
boundary: frames at `--camera-fps`, a drop-out every 1–4 minutes (reopening fails a few times first), and one
unreadable frame in 500. The outputs: a video of the run (lossless, on disk), and a live output that takes
30 ms a frame (it must skip frames, never slow the run).

Per window: resident memory, open file descriptors, threads, frames read / finished / dropped / unreadable, and
the p50/p99 latency of inference and end to end. Targets: memory and descriptors flat (< 5 % growth after the
first window), no thread leak, no latency window over 20 % slower than the first, every frame accounted for
(the camera's own count of what it delivered equals finished + dropped + unreadable). Writes
benchmarks/results/RESULT.{json,md,png}.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from results_io import RESULTS, git_commit, machine, save

from edgeseg.runtime.stats import LatencySummary


class GeneratedCamera:
    """Stands in for cv2.VideoCapture (the hardware boundary): paced frames, drop-outs, unreadable frames.

    Counts what it delivered, so the run's own accounting can be checked against it.
    """

    def __init__(self, fps: float, size: tuple[int, int], seed: int = 0) -> None:
        self.period, self.rng = 1.0 / fps, random.Random(seed)
        height, width = size
        rng = np.random.default_rng(seed)
        self.frames = [rng.integers(0, 255, (height, width, 3), dtype=np.uint8) for _ in range(16)]
        self.delivered = 0  # reads that returned (True, …): frames, readable or not
        self.unreadable = 0
        self.dropouts = 0
        self._failing_opens = 0
        self._until_dropout = self._next_dropout()
        self._next_at = time.perf_counter()

    def _next_dropout(self) -> int:
        return int(self.rng.uniform(60, 240) / self.period)

    def __call__(self, target: Any, *api: Any) -> GeneratedCamera.Capture:
        opened = self._failing_opens == 0
        self._failing_opens = max(0, self._failing_opens - 1)
        return GeneratedCamera.Capture(self, opened)

    class Capture:
        def __init__(self, camera: GeneratedCamera, opened: bool) -> None:
            self.camera, self.opened = camera, opened

        def isOpened(self) -> bool:
            return self.opened

        def get(self, prop: int) -> float:
            return 1.0 / self.camera.period

        def release(self) -> None:
            self.opened = False

        def read(self) -> tuple[bool, np.ndarray | None]:
            camera = self.camera
            if not self.opened:
                return False, None
            camera._next_at += camera.period
            wait = camera._next_at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            else:
                camera._next_at = time.perf_counter()  # behind: a camera does not deliver a backlog
            camera._until_dropout -= 1
            if camera._until_dropout <= 0:  # the cable comes loose: this session ends, reopening fails 1–3 times
                camera.dropouts += 1
                camera._until_dropout = camera._next_dropout()
                camera._failing_opens = camera.rng.randint(1, 3)
                self.opened = False
                return False, None
            camera.delivered += 1
            if camera.rng.random() < 1 / 500:
                camera.unreadable += 1
                return True, None
            return True, camera.frames[camera.delivered % len(camera.frames)]


class SlowLiveOutput:
    """A live output slower than the camera (a remote viewer on Wi-Fi): 30 ms per frame, side-by-side view."""

    name, live = "slow viewer", True

    def write(self, record: Any) -> None:
        record.overlay("side")
        time.sleep(0.03)

    def close(self) -> None:
        pass


def process_facts() -> dict[str, float]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {
        "rss_mb": round(int(status["VmRSS"].split()[0]) / 1024, 1),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": int(status["Threads"]),
    }


def export_model(folder: Path, size: int) -> Path:
    """The product's own files: an untrained seeded checkpoint, exported to ONNX by `edgeseg export`'s steps."""
    from edgeseg.bench.artifacts import prepare_checkpoint
    from edgeseg.bench.config import Variant
    from edgeseg.export.steps import ExportOptions, run_export

    variant = Variant("deeplabv3plus_mobilenetv2", "bilinear", "", {}, size)
    checkpoint = prepare_checkpoint(folder, variant, num_classes=4, stamp={"purpose": "soak"})
    run_export(ExportOptions(checkpoint, out=folder / "export", engine=False), log=lambda _step: None)
    return folder / "export" / "model.onnx"


def soak(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.loop import RunLoop
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.segmenter import Segmenter
    from edgeseg.runtime.sinks import VideoSink
    from edgeseg.runtime.sources import CaptureSource

    backend = open_model(export_model(folder, args.size), provider="cpu", threads=1, spin=False)
    camera = GeneratedCamera(args.camera_fps, (120, 160))
    source = CaptureSource(0, live=True, reconnects=5, open_capture=camera)
    renderer = Renderer(backend.metadata.class_names, backend.metadata.palette)
    video = VideoSink(folder / "soak.avi", source.fps, live_source=True)
    loop = RunLoop(source, Segmenter(backend), renderer, [video, SlowLiveOutput()])
    runner = threading.Thread(target=loop.run, name="soak run")
    windows: list[dict[str, Any]] = []
    stats = loop.stats
    previous = {"read": 0, "frames": 0, "dropped": 0, "unreadable": 0}
    latency = {stage: stats.stages[stage].copy() for stage in ("infer", "end_to_end")}
    started = time.monotonic()
    runner.start()
    for window in range(1, int(args.minutes * 60 // args.window) + 1):
        time.sleep(max(0.0, started + window * args.window - time.monotonic()))
        now = {key: getattr(stats, key) for key in previous}
        row: dict[str, Any] = {"minute": round((time.monotonic() - started) / 60, 2), **process_facts()}
        row.update({key: now[key] - previous[key] for key in now})
        for stage, earlier in latency.items():
            part: LatencySummary = stats.stages[stage].since(earlier)
            row[f"{stage}_p50_ms"] = round(1000 * part.quantile(0.5), 3)
            row[f"{stage}_p99_ms"] = round(1000 * part.quantile(0.99), 3)
            latency[stage] = stats.stages[stage].copy()
        row["reopened"] = source.reopened
        previous = now
        windows.append(row)
        print(row, flush=True)
    loop.request_stop()
    runner.join(30)
    backend.close()
    summary = stats.summary()
    accounted = summary["frames"] + summary["dropped"] + summary["unreadable"]
    return {
        "windows": windows,
        "camera": {"delivered": camera.delivered, "unreadable": camera.unreadable, "dropouts": camera.dropouts},
        "run": {key: summary[key] for key in ("frames", "read", "dropped", "unreadable", "reopened", "error")},
        "outputs": summary["outputs"],
        "accounted": accounted,
        "video_frames_written": video.written,
    }


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    first, rest = result["windows"][0], result["windows"][1:] or result["windows"]

    def growth(key: str) -> float:
        return max(row[key] for row in rest) / first[key] - 1

    def latency_growth(key: str) -> float:
        # One-sided: a window slower than the first is what a per-frame leak would show; a faster one is the
        # machine's other work easing off, not the run changing.
        return max(row[key] / first[key] - 1 for row in rest)

    return {
        "memory_growth": round(growth("rss_mb"), 4),
        "fd_growth": round(growth("fds"), 4),
        "thread_growth": max(row["threads"] for row in rest) - first["threads"],
        "end_to_end_p50_growth": round(latency_growth("end_to_end_p50_ms"), 4),
        "end_to_end_p99_growth": round(latency_growth("end_to_end_p99_ms"), 4),
        "infer_p50_growth": round(latency_growth("infer_p50_ms"), 4),
        "accounting_exact": result["accounted"] == result["run"]["read"] == result["camera"]["delivered"],
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows = result["windows"]
    minutes = [row["minute"] for row in windows]
    figure, (memory, latency) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    memory.plot(minutes, [row["rss_mb"] for row in windows], marker="o", label="resident memory (MB)")
    memory.set_ylim(0, max(row["rss_mb"] for row in windows) * 1.3)
    memory.set_ylabel("MB")
    memory.legend(loc="lower right")
    memory.set_title("edgeseg run over a misbehaving camera, per window")
    for key, label in (("end_to_end_p50_ms", "end to end p50"), ("end_to_end_p99_ms", "end to end p99"),
                       ("infer_p50_ms", "inference p50")):  # fmt: skip
        latency.plot(minutes, [row[key] for row in windows], marker="o", label=label)
    latency.set_ylim(0, max(row["end_to_end_p99_ms"] for row in windows) * 1.3)
    latency.set_ylabel("ms")
    latency.set_xlabel("minutes into the run (end of window)")
    latency.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def markdown(result: dict[str, Any], name: str) -> list[str]:
    v, run, camera = result["verdicts"], result["run"], result["camera"]
    lines = [
        f"# A camera run that lasts: {result['minutes']:g} minutes of `edgeseg run`'s loop",
        "",
        f"{result['machine']}; commit {result['commit']}. Command: `{result['command']}`.",
        "",
        f"The loop read {run['read']:,} frames from a generated camera at {result['camera_fps']:g} FPS "
        f"({camera['dropouts']} drop-outs, reopened {run['reopened']} times; {camera['unreadable']} unreadable "
        f"frames), a {result['size']}² separable DeepLabV3+ on ONNX Runtime (1 thread), a video on disk and a "
        "30 ms live output.",
        "",
        f"![memory and latency per window]({name}.png)",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
        f"| memory growth after the first window < 5 % | {100 * v['memory_growth']:+.1f} % | "
        f"{'yes' if v['memory_growth'] < 0.05 else 'no'} |",
        f"| descriptors growth < 5 % | {100 * v['fd_growth']:+.1f} % | {'yes' if v['fd_growth'] < 0.05 else 'no'} |",
        f"| no thread leak | {v['thread_growth']:+d} threads | {'yes' if v['thread_growth'] <= 0 else 'no'} |",
        f"| no window's end-to-end p50 over 20 % slower than the first's | {100 * v['end_to_end_p50_growth']:+.1f} % | "
        f"{'yes' if v['end_to_end_p50_growth'] <= 0.2 else 'no'} |",
        f"| no window's end-to-end p99 over 20 % slower than the first's | {100 * v['end_to_end_p99_growth']:+.1f} % | "
        f"{'yes' if v['end_to_end_p99_growth'] <= 0.2 else 'no'} |",
        f"| every frame accounted for (finished + dropped + unreadable = read = delivered) | "
        f"{result['accounted']:,} = {run['read']:,} = {camera['delivered']:,} | "
        f"{'yes' if v['accounting_exact'] else 'no'} |",
        "",
        "| minute | RSS MB | fds | threads | read | finished | dropped | unreadable | infer p50 | e2e p50 | e2e p99 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["windows"]:
        lines.append(
            f"| {row['minute']:.1f} | {row['rss_mb']:.1f} | {row['fds']} | {row['threads']} | {row['read']:,} | "
            f"{row['frames']:,} | {row['dropped']:,} | {row['unreadable']} | {row['infer_p50_ms']:.2f} | "
            f"{row['end_to_end_p50_ms']:.2f} | {row['end_to_end_p99_ms']:.2f} |"
        )
    outputs = ", ".join(f"{n}: wrote {o['written']:,}, skipped {o['skipped']:,}" for n, o in result["outputs"].items())
    lines += [
        "",
        f"Outputs: {outputs}. Run error: {run['error'] or 'none'}.",
        "",
        "Latency is judged one way: a window slower than the first is what something growing per frame would show. "
        "The run shared its 2 cores with other jobs, so windows also come out faster than the first as that load "
        "changes. Memory, descriptors and threads do not move with load.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--window", type=float, default=300, help="seconds per measured window")
    parser.add_argument("--camera-fps", type=float, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--result", default="soak")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeseg-soak-") as tmp:
        result = soak(args, Path(tmp))
    command = "python benchmarks/soak.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "result"
    )
    result.update(
        minutes=args.minutes, camera_fps=args.camera_fps, size=args.size, machine=machine(), commit=git_commit(),
        command=command,
    )  # fmt: skip
    result["verdicts"] = verdicts(result)
    plot(result, RESULTS / f"{args.result}.png")
    save(args.result, result, markdown(result, args.result), paths={tmp: "<tmp>"})


if __name__ == "__main__":
    main()
