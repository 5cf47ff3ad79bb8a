"""What watching costs: end-to-end FPS of `edgeseg run` on one video with no viewer, one and four viewers.

    nice -n 5 python benchmarks/serve_cost.py [--rounds 5] [--frames 600] [--size 128] [--serve-fps 15]
        [--work DIR] [--result serve_cost]

Everything goes through the product's own commands: a synthetic dataset (`edgeseg data synth`), a DeepLabV3+
trained one epoch and exported to ONNX (`edgeseg train`, `edgeseg export`; its accuracy does not matter here, its
cost does), a 640×480 video (`edgeseg data video`). Then, in interleaved rounds, the real `edgeseg run --no-show
--stats-json` on that video: without --serve; with --serve and no viewer; with one and with four viewers. A
viewer is a separate process reading /stream.mjpg over HTTP to the end, as a browser does; viewers are started
before the run and connect as soon as its socket is bound, so they watch from the first frame. The FPS of each
run is the command's own (frames / wall time of the run). Medians over the rounds; each condition's ratio to the
run with --serve and no viewer. Beside it the CPU time the run's process used (user + system, start-up and model
load included) per frame, which other jobs on the machine change far less than the FPS. Writes
benchmarks/results/RESULT.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_io import git_commit, machine, save

EDGESEG = str(Path(sys.executable).with_name("edgeseg"))
CONDITIONS = {"no --serve": None, "no viewer": 0, "1 viewer": 1, "4 viewers": 4}

# A viewer: connect as soon as the port listens, read the MJPEG stream to its end, print the frames it got.
VIEWER = r"""
import socket, sys, time
port = int(sys.argv[1])
print("ready", flush=True)
deadline = time.monotonic() + 300
while True:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=300)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.005)
sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
marker, tail, received, frames = b"Content-Type: image/jpeg", b"", 0, 0
while True:
    chunk = sock.recv(1 << 16)
    if not chunk:
        break
    received += len(chunk)
    frames += (tail + chunk).count(marker) - tail.count(marker)  # a marker split between two reads counts once
    tail = (tail + chunk)[-len(marker):]
print(frames, received, flush=True)
"""


def edgeseg(*args: str, cwd: Path) -> None:
    subprocess.run([EDGESEG, *args], cwd=cwd, check=True, capture_output=True, text=True)


def prepare(work: Path, frames: int, size: int) -> tuple[Path, Path]:
    """The model and the video, made by the product's own commands (skipped when already there)."""
    model, video = work / "export" / "model.onnx", work / "clip.mp4"
    if not model.exists():
        edgeseg("data", "synth", "data", "--images", "16", "--size", str(size), "--classes", "4", "--force", cwd=work)
        edgeseg(
            "train", "--model", "deeplabv3plus_mobilenetv2", "--data", "data", "--size", str(size), "--epochs", "1",
            "--batch-size", "4", "--project", "runs", "--name", "serve", "--exist-ok", cwd=work,
        )  # fmt: skip
        edgeseg("export", "runs/serve/weights/best.pt", "--out", "export", "--no-engine", cwd=work)
    if not video.exists():
        edgeseg("data", "video", str(video), "--frames", str(frames), cwd=work)
    return model, video


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(model: Path, video: Path, viewers: int | None, serve_fps: float, work: Path) -> dict[str, Any]:
    """One run of `edgeseg run` with `viewers` readers of its page (None: no --serve at all)."""
    stats_file = work / "stats.json"
    stats_file.unlink(missing_ok=True)
    args = [EDGESEG, "run", "--model", str(model), "--source", str(video), "--no-show", "--stats-json", str(stats_file)]
    clients: list[subprocess.Popen] = []
    if viewers is not None:
        port = free_port()
        args += ["--serve", f"127.0.0.1:{port}", "--serve-fps", str(serve_fps)]
        for _ in range(viewers):
            client = subprocess.Popen([sys.executable, "-c", VIEWER, str(port)], stdout=subprocess.PIPE, text=True)
            assert client.stdout is not None and client.stdout.readline().strip() == "ready"
            clients.append(client)
    env = {**os.environ, "COLUMNS": "200"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run's own process: the viewers are not reaped yet
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stats = json.loads(stats_file.read_text())
    received = []
    for client in clients:
        out, _ = client.communicate(timeout=60)
        frames, size = map(int, out.split())
        received.append({"frames": frames, "bytes": size})
    page = stats["outputs"].get("page", {})
    return {"fps": stats["fps"], "frames": stats["frames"], "seconds": stats["seconds"], "viewers": received,
            "cpu_ms_per_frame": round(1000 * cpu_s / stats["frames"], 3),
            "page_written": page.get("written"), "page_skipped": page.get("skipped")}  # fmt: skip


def encode_cost(model: Path, video: Path, serve_fps: float, repeats: int = 200) -> dict[str, float]:
    """What one watched view costs per frame sent, timed alone on this thread: drawing the overlay of a frame of
    the video with the model's own mask, and JPEG-encoding it (what the page's output thread does)."""
    import cv2

    import edgeseg
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.web.hub import encode_jpeg

    capture = cv2.VideoCapture(str(video))
    frame = capture.read()[1]
    capture.release()
    with edgeseg.load(model, provider="cpu") as seg:
        mask = seg(frame)
        renderer = Renderer(seg.metadata.class_names, seg.metadata.palette)

    def p50_ms(step) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            step()
            times.append(1000 * (time.perf_counter() - started))
        return statistics.median(times)

    drawn = renderer.draw(frame, mask, "30.0 FPS  infer 10.0 ms")
    draw_ms = p50_ms(lambda: renderer.draw(frame, mask, "30.0 FPS  infer 10.0 ms"))
    encode_ms = p50_ms(lambda: encode_jpeg(drawn))
    per_second = serve_fps * (draw_ms + encode_ms)
    return {"draw_ms": round(draw_ms, 3), "encode_ms": round(encode_ms, 3), "jpeg_bytes": len(encode_jpeg(drawn)),
            "core_share_at_serve_fps": round(per_second / 1000, 4)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=600, help="Frames of the 640×480 video.")
    parser.add_argument("--size", type=int, default=128, help="The model's input size.")
    parser.add_argument("--serve-fps", type=float, default=15.0)
    parser.add_argument("--work", type=Path, default=None, help="Where the model and video go [a temp folder].")
    parser.add_argument("--result", default="serve_cost")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="edgeseg-serve-cost-"))
    work.mkdir(parents=True, exist_ok=True)
    model, video = prepare(work, args.frames, args.size)
    cost = encode_cost(model, video, args.serve_fps)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONDITIONS}
    names = list(CONDITIONS)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]  # each condition in each position
        for name in order:
            runs[name].append(measure(model, video, CONDITIONS[name], args.serve_fps, work))
            print(f"round {round_ + 1}/{args.rounds} {name:11s} {runs[name][-1]['fps']:7.2f} FPS", flush=True)
    medians = {name: statistics.median(r["fps"] for r in rows) for name, rows in runs.items()}
    base = medians["no viewer"]
    rows = []
    for name, measured in runs.items():
        got = [v["frames"] for r in measured for v in r["viewers"]]
        rows.append({
            "condition": name,
            "median_fps": round(medians[name], 2),
            "vs_no_viewer": round(medians[name] / base, 4),
            # The same round's runs side by side: a load that changed between rounds cancels out.
            "median_round_ratio": round(statistics.median(
                r["fps"] / b["fps"] for r, b in zip(measured, runs["no viewer"])
            ), 4),
            "fps_per_round": [r["fps"] for r in measured],
            "median_frames_per_viewer": statistics.median(got) if got else None,
            "median_run_seconds": statistics.median(r["seconds"] for r in measured),
            "median_cpu_ms_per_frame": statistics.median(r["cpu_ms_per_frame"] for r in measured),
        })  # fmt: skip
    result = {
        "commit": git_commit(),
        "machine": machine(),
        "settings": {**vars(args), "work": "<tmp>"},
        "video": {"frames": args.frames, "size": "640x480"},
        "rows": rows,
        "encode_cost": cost,
        "runs": runs,
        "one_viewer_keeps": rows[2]["vs_no_viewer"],
    }
    lines = [
        "# What watching costs: `edgeseg run --serve` with 0, 1 and 4 viewers",
        "",
        f"End-to-end FPS of the real `edgeseg run` (ONNX Runtime CPU) on one {args.frames}-frame 640×480 video, "
        f"DeepLabV3+ MobileNetV2 at {args.size}², `--serve-fps {args.serve_fps:g}`; median of {args.rounds} "
        f"interleaved rounds; commit {result['commit']}, {result['machine']}. Viewers are separate processes "
        "reading /stream.mjpg over HTTP from the first frame to the last. Run with `nice -n 5` on a machine other "
        "jobs were sharing: compare the rows with each other, not with other reports.",
        "",
        "| condition | median FPS | vs no viewer | same round, vs no viewer (median) | CPU ms per frame (median) "
        "| frames each viewer got (median) | FPS per round |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        got = "" if row["median_frames_per_viewer"] is None else f"{row['median_frames_per_viewer']:g}"
        per_round = ", ".join(f"{f:.1f}" for f in row["fps_per_round"])
        share, paired = f"{100 * row['vs_no_viewer']:.1f} %", f"{100 * row['median_round_ratio']:.1f} %"
        cpu = f"{row['median_cpu_ms_per_frame']:.1f}"
        lines.append(
            f"| {row['condition']} | {row['median_fps']:.1f} | {share} | {paired} | {cpu} | {got} | {per_round} |"
        )
    lines += [
        "",
        f"One watched view, timed alone (p50 of 200): drawing the 640×480 overlay {cost['draw_ms']:.2f} ms, encoding "
        f"it as JPEG {cost['encode_ms']:.2f} ms ({cost['jpeg_bytes'] / 1000:.0f} kB); at --serve-fps "
        f"{args.serve_fps:g} that is {100 * cost['core_share_at_serve_fps']:.1f} % of one core, whatever the "
        "number of viewers of that view (they share the encoding). CPU ms per frame is the run's process time, "
        "start-up and model load included, over its frames.",
        "",
        *(
            [
                "Here runs with viewers were faster than without: on a machine other jobs keep busy, the page's "
                "threads are more runnable threads of edgeseg's process, which the scheduler then gives a larger "
                "share of the machine against the other jobs. The cost above is the one to expect on a quiet device.",
                "",
            ]
            if rows[2]["median_round_ratio"] > 1
            else []
        ),
        f"With one viewer the run keeps {100 * result['one_viewer_keeps']:.1f} % of its FPS without one (median "
        f"FPS; {100 * rows[2]['median_round_ratio']:.1f} % as the median of each round's ratio). The requirement: "
        "at least 90 %.",
        "",
        "Rerun: `nice -n 5 python benchmarks/serve_cost.py --rounds "
        f"{args.rounds} --frames {args.frames} --size {args.size} --serve-fps {args.serve_fps:g}`",
    ]
    save(args.result, result, lines)


if __name__ == "__main__":
    main()
