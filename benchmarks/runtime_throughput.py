"""`edgeseg run` end-to-end throughput on a video file against the backend's raw inference throughput.

    python benchmarks/runtime_throughput.py MODEL.onnx VIDEO [--frames 200] [--threads 2]

Raw: backend.infer alone, back to back, on the video's frames already pre-processed (the ceiling).
End to end: the runtime pipeline (decode, letterbox, infer, argmax + un-letterbox, overlay) over the
same frames to a null sink. Both in one process, one after the other; writes
benchmarks/results/runtime_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from results_io import git_commit, machine, save

from edgeseg.runtime.backends import open_model
from edgeseg.runtime.pipeline import Pipeline
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.segmenter import Segmenter
from edgeseg.runtime.sinks import NullSink
from edgeseg.runtime.sources import open_source


def measure(model: Path, video: Path, frames: int, threads: int | None, spin: bool) -> dict:
    backend, meta = open_model(model, provider="cpu", threads=threads, spin=spin)
    with backend:
        segmenter = Segmenter(backend, meta)
        inputs = [segmenter.prepare(f.image)[0] for _, f in zip(range(frames), open_source(video))]
        for tensor in inputs[:5]:  # warm-up
            segmenter.infer(tensor)
        start = time.perf_counter()
        for tensor in inputs:
            segmenter.infer(tensor)
        raw_fps = len(inputs) / (time.perf_counter() - start)
        renderer = Renderer(meta["class_names"], meta["palette"])
        stats = Pipeline(open_source(video), segmenter, renderer, [NullSink()], max_frames=len(inputs)).run()
        summary = stats.summary()
    return {
        "model": str(model),
        "input_size": meta["input_size"],
        "frames": len(inputs),
        "raw_fps": round(raw_fps, 2),
        "end_to_end_fps": summary["fps"],
        "ratio": round(summary["fps"] / raw_fps, 3),
        "stages": summary["stages"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--spin", action="store_true", help="let ONNX Runtime threads busy-wait (edgeseg run does not)")
    args = parser.parse_args()
    rows = [measure(m, args.video, args.frames, args.threads, args.spin) for m in args.models]
    commit = git_commit()
    result = {
        "video": str(args.video),
        "threads": args.threads,
        "commit": commit,
        "machine": machine(),
        "rows": rows,
    }
    lines = [
        "# Runtime end to end vs raw inference (ONNX Runtime CPU)",
        "",
        f"Video `{args.video}`, {args.frames} frames, commit {commit}, {result['machine']}. Raw: `infer` alone "
        "on pre-processed frames; end to end: `edgeseg run`'s pipeline to a null sink.",
        "",
        "| model | input | raw FPS | end-to-end FPS | ratio | infer p50 ms | pre p50 ms | post p50 ms "
        "| render p50 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        s = r["stages"]
        lines.append(
            f"| {Path(r['model']).parent.name}/{Path(r['model']).name} | {r['input_size'][0]}×{r['input_size'][1]} "
            f"| {r['raw_fps']:.1f} | {r['end_to_end_fps']:.1f} | {r['ratio']:.1%} | {s['infer']['p50_ms']:.1f} "
            f"| {s['pre']['p50_ms']:.2f} | {s['post']['p50_ms']:.2f} | {s['render']['p50_ms']:.2f} |"
        )
    save("runtime_throughput", result, lines)


if __name__ == "__main__":
    main()
