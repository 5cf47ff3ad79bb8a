"""What each results output costs `edgeseg run`: FPS with it on and off, on the same generated video.

    nice -n 5 python benchmarks/outputs_cost.py [--frames 200] [--rounds 5] [--size 256] [--classes 21]
        [--result outputs_cost]

Through the product: a DeepLabV3+ (MobileNetV2) is exported by edgeseg's own exporter three ways (class map, the
default; class map + confidence, `--confidence`; logits), and every measurement is a real `edgeseg run` process
on a 640×480 MJPG video (`--no-show --stats-json`), its FPS read from the stats. This machine's speed swings by
±20 % from one minute to the next (other virtual machines on the host), more than any output costs, so a
configuration never runs after its baseline but beside it: both processes start together, each pinned to a core
of its own with `--threads 1` (every thread of a run, the output's included, on that core), and see the same
machine at the same moment. Rounds alternate the cores; a configuration's cost is the median over rounds of
1 − FPS / the baseline's FPS of the same pair (and, beside it, of the CPU time per frame over the baseline's).
MQTT publishes to a Mosquitto broker this script starts on 127.0.0.1 (no subscriber); MCAP records to a file in a
temporary folder (`--save run.mcap`: the input image and three masks per frame, rosbags' writer).

The network is untrained, its classifier scaled (as tests/runtime/test_output_kinds.py does) so that its masks
hold many regions of every class: polygons and per-class summaries are measured on masks busier than a trained
model's. Writes benchmarks/results/RESULT.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from results_io import git_commit, machine, save

EDGESEG = Path(sys.executable).with_name("edgeseg")
# name: (model, extra arguments, baseline configuration)
CONFIGS: dict[str, tuple[str, list[str], str | None]] = {
    "none (class map)": ("classes", [], None),
    "--jsonl": ("classes", ["--jsonl", "{tmp}/out.jsonl", "--force"], "none (class map)"),
    "--jsonl --polygons": ("classes", ["--jsonl", "{tmp}/out.jsonl", "--force", "--polygons"], "none (class map)"),
    "--publish mqtt://": ("classes", ["--publish", "{mqtt}"], "none (class map)"),
    "--save run.mcap": ("classes", ["--save", "{tmp}/run.mcap", "--force"], "none (class map)"),
    "--jsonl --confidence (graph output)": (
        "confidence",
        ["--jsonl", "{tmp}/out.jsonl", "--force", "--confidence"],
        "--jsonl",
    ),
    "none (logits)": ("logits", [], None),
    "--jsonl (logits)": ("logits", ["--jsonl", "{tmp}/out.jsonl", "--force"], "none (logits)"),
    "--jsonl --confidence (logits, host softmax)": (
        "logits",
        ["--jsonl", "{tmp}/out.jsonl", "--force", "--confidence"],
        "--jsonl (logits)",
    ),
}


def write_video(path: Path, frames: int) -> None:
    import cv2

    from edgeseg.data.synth import synth_image

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(cv2.cvtColor(synth_image(rng, 480, 640, 6)[0], cv2.COLOR_RGB2BGR))
    writer.release()


def export_models(folder: Path, size: int, classes: int) -> dict[str, Path]:
    """The same network exported three ways by edgeseg's exporter."""
    import torch

    from edgeseg.export.onnx_export import export_onnx
    from edgeseg.models import build_model
    from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
    from edgeseg.train.checkpoint import make_metadata

    torch.manual_seed(3)
    model = build_model("deeplabv3plus_mobilenetv2", num_classes=classes).eval()
    with torch.no_grad():  # untrained features vary little: larger weights and no bias make the argmax vary
        model.classifier.bias.zero_()
        model.classifier.weight.mul_(1e4)
    names = ["background", *(f"class{i}" for i in range(1, classes))]
    meta = make_metadata(model, names, (size, size), IMAGENET_MEAN, IMAGENET_STD, "letterbox")
    paths = {}
    for kind, output, confidence in (("classes", "classes", False), ("confidence", "classes", True)):
        paths[kind] = folder / f"{kind}.onnx"
        export_onnx(model, meta, paths[kind], output=output, confidence=confidence, log=lambda m: None)
    paths["logits"] = folder / "logits.onnx"
    export_onnx(model, meta, paths["logits"], output="logits", log=lambda m: None)
    return paths


class Broker:
    """Debian's mosquitto on a free 127.0.0.1 port, for the MQTT row (absent: the row is left out)."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
        self.process: subprocess.Popen | None = None
        if self.binary is None:
            return
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false"]
        config.write_text("\n".join([*lines, *(["user root"] if os.geteuid() == 0 else [])]) + "\n")
        self.process = subprocess.Popen([self.binary, "-c", str(config)], stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    @property
    def url(self) -> str | None:
        return f"mqtt://127.0.0.1:{self.port}/edgeseg/bench" if self.process else None

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)


def start(model: Path, video: Path, extra: list[str], frames: int, stats: Path, core: int) -> subprocess.Popen:
    """A real `edgeseg run` pinned to one core, one inference thread."""
    args = [str(EDGESEG), "run", "--model", str(model), "--source", str(video), "--no-show", "--threads", "1"]
    args += ["--max-frames", str(frames), "--stats-json", str(stats), *extra]
    return subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )


def finish(proc: subprocess.Popen, frames: int, stats: Path) -> dict[str, Any]:
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # the CPU time the run used
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(map(str, proc.args))} failed: {stderr.strip().splitlines()[-1:]}")
    summary = json.loads(stats.read_text())
    return {
        "cpu_ms_per_frame": 1000 * (usage.ru_utime + usage.ru_stime) / frames,
        "fps": summary["fps"],
        "post_p50_ms": summary["stages"]["post"]["p50_ms"],
        "render_p50_ms": summary["stages"]["render"]["p50_ms"],
        "infer_p50_ms": summary["stages"]["infer"]["p50_ms"],
    }


def run_pair(
    models: dict[str, Path], video: Path, pair: list[tuple[str, list[str]]], frames: int, tmp: Path, round_: int
) -> list[dict[str, Any]]:
    """The baseline and a configuration at the same time, on two cores (swapped every other round)."""
    cores = sorted(os.sched_getaffinity(0))[:2]
    if round_ % 2:
        cores.reverse()
    procs = [
        start(models[kind], video, extra, frames, tmp / f"stats{i}.json", core)
        for i, ((kind, extra), core) in enumerate(zip(pair, cores))
    ]
    return [finish(proc, frames, tmp / f"stats{i}.json") for i, proc in enumerate(procs)]


def mask_complexity(model: Path, video: Path, frames: int) -> dict[str, float]:
    """How busy the masks are: classes present, polygon regions and points per frame (first `frames` frames)."""
    import edgeseg

    present, regions, points = [], [], []
    with edgeseg.load(model) as seg:
        for result in seg.results(str(video), max_frames=frames, confidence=False):
            present.append(sum(share > 0 for share in result.shares().values()))
            polygons = result.polygons()
            regions.append(sum(len(r) for r in polygons.values()))
            rings = [ring for r in polygons.values() for p in r for ring in (p["outline"], *p["holes"])]
            points.append(sum(len(ring) // 2 for ring in rings))
    return {
        "classes_present": statistics.mean(present),
        "regions": statistics.mean(regions),
        "points": statistics.mean(points),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--result", default="outputs_cost")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="edgeseg-outputs-cost-") as made:
        tmp = Path(made)
        video = tmp / "scene.avi"
        write_video(video, args.frames)
        models = export_models(tmp, args.size, args.classes)
        broker = Broker(tmp)
        try:
            configs = {n: c for n, c in CONFIGS.items() if "{mqtt}" not in " ".join(c[1]) or broker.url}
            names = [name for name, config in configs.items() if config[2] is not None]
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            baselines: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for round_ in range(args.rounds):
                for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                    kind, extra, baseline = configs[name]
                    pair = [configs[baseline][:2], (kind, extra)]
                    filled = [
                        (k, [a.replace("{tmp}", made).replace("{mqtt}", broker.url or "") for a in e]) for k, e in pair
                    ]
                    base, run = run_pair(models, video, filled, args.frames, tmp, round_)
                    baselines[name].append(base)
                    runs[name].append(run)
                    cost = 100 * (1 - run["fps"] / base["fps"])
                    print(f"round {round_ + 1}/{args.rounds} {name}: {run['fps']:.2f} FPS, {cost:+.1f} %", flush=True)
            complexity = mask_complexity(models["classes"], video, 30)
        finally:
            broker.stop()
    rows = []
    for name in names:
        baseline = configs[name][2]
        pairs = list(zip(runs[name], baselines[name]))
        fps = [1 - run["fps"] / base["fps"] for run, base in pairs]
        cpu = [run["cpu_ms_per_frame"] / base["cpu_ms_per_frame"] - 1 for run, base in pairs]
        row: dict[str, Any] = {"config": name, "model": configs[name][0], "baseline": baseline}
        for prefix, measured in (("", runs[name]), ("baseline_", baselines[name])):
            for key in ("fps", "cpu_ms_per_frame", "post_p50_ms", "render_p50_ms", "infer_p50_ms"):
                row[f"{prefix}{key}"] = round(statistics.median(r[key] for r in measured), 3)
        row["fps_cost_pct"] = round(100 * statistics.median(fps), 2)
        row["fps_cost_pct_rounds"] = [round(100 * c, 2) for c in fps]
        row["cpu_cost_pct"] = round(100 * statistics.median(cpu), 2)
        row["cpu_cost_pct_rounds"] = [round(100 * c, 2) for c in cpu]
        rows.append(added_work(row))
    result = {
        "commit": git_commit(),
        "machine": machine(),
        "settings": vars(args),
        "video": "640×480 MJPG, generated scenes",
        "mask_complexity": complexity,
        "rows": rows,
    }
    save(args.result, result, markdown(result, args))


def added_work(row: dict[str, Any]) -> dict[str, Any]:
    """The output's own work per frame, from the runs' stage timings: what its post-processing and write stages
    (and its network, where it is another export than the baseline's) take over the baseline's, medians, and that
    as a share of the baseline's frame time on its one core (1 / FPS). Steadier than the FPS ratio: a stage timed
    inside its run moves with the machine in proportion to its few ms, not by the whole frame's swing. Work on
    other threads (MQTT's sender) is not in it."""
    stages = ["post_p50_ms", "render_p50_ms"]
    if row["model"] != CONFIGS[row["baseline"]][0]:
        stages.append("infer_p50_ms")
    added = sum(row[key] - row[f"baseline_{key}"] for key in stages)
    frame_ms = 1000 / row["baseline_fps"]
    return {**row, "added_ms_per_frame": round(added, 3), "added_work_pct": round(100 * added / frame_ms, 2)}


def markdown(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    c = result["mask_complexity"]
    lines = [
        "# What each results output costs `edgeseg run`",
        "",
        f"FPS of real `edgeseg run` processes on one generated 640×480 video ({args.frames} frames), "
        f"DeepLabV3+ MobileNetV2 at {args.size}² with {args.classes} classes on ONNX Runtime CPU, each output on "
        f"against the same run without it, in {args.rounds} rounds. The two runs of a pair go at the same time, each "
        "pinned to a core of its own with one inference thread (every thread of a run, its output's included, on "
        "that core), so both see the machine in the same state: this machine's speed swings by ±20 % from one "
        "minute to the next, more than any output costs. Rounds swap the cores. FPS cost: the median over rounds "
        "of 1 − FPS / the baseline's FPS in the same pair (FPS from the run's stats, start-up excluded); CPU cost: "
        "the same for the process's CPU time per frame (start-up included). "
        f"Commit {result['commit']}; {result['machine']}.",
        "",
        f"The masks are busier than a trained model's: {c['classes_present']:.1f} classes present, "
        f"{c['regions']:.0f} polygon regions and {c['points']:.0f} outline points per frame on average.",
        "",
        "| output | model output | baseline | FPS / baseline FPS | FPS cost | CPU cost | added work ms / frame | "
        "added work | infer / post / render p50 ms |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        stages = " / ".join(f"{row[key]:.2f}" for key in ("infer_p50_ms", "post_p50_ms", "render_p50_ms"))
        lines.append(
            f"| {row['config']} | {row['model']} | {row['baseline']} | {row['fps']:.2f} / {row['baseline_fps']:.2f} "
            f"| {row['fps_cost_pct']:+.1f} % | {row['cpu_cost_pct']:+.1f} % | {row['added_ms_per_frame']:+.2f} "
            f"| {row['added_work_pct']:+.1f} % | {stages} |"
        )
    lines += [
        "",
        "Added work: the configuration's post + render p50 over its baseline's (+ infer where the model is "
        "another export than the baseline's: the graph's confidence), and that over the baseline's frame time "
        "(1 / FPS on its one core); the steadier measure, since each stage is timed inside its run (MQTT's sender "
        "thread is not in it). infer: the network; post: the class mask at the image's size (and the "
        "confidence, where asked, at the network's); render: every output's write (the JSON record is made "
        "there, the confidence's summary with it). FPS and CPU costs swing by ±10 % from round to round here "
        "(the rounds are in the JSON); their medians agree with the added work within that. MQTT publishes to a "
        "local Mosquitto with no subscriber.",
        "",
        "Rerun (Linux, two cores or more): `nice -n 5 python benchmarks/outputs_cost.py "
        f"--frames {args.frames} --rounds {args.rounds} --size {args.size} --classes {args.classes}`",
    ]
    return lines


if __name__ == "__main__":
    main()
