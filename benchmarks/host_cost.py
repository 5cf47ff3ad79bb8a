"""Host-side work per frame of `edgeseg run` at 640×480 → 512²: pre-processing, post-processing, rendering.

    python benchmarks/host_cost.py [--baseline REV] [--frames 200] [--classes 21] [--size 512]
        [--result host_cost]

No model: the network's output is stood in for by random logits (C×512×512 float32) or the class map
an in-graph argmax returns (512×512 int32), so only what the host pays is timed, one step at a time on
this thread. With --baseline REV, runtime/preprocess.py and runtime/render.py as they were at git
revision REV are timed in the same process, on the same frames, beside the current ones.
Writes benchmarks/results/RESULT.{json,md}.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
from results_io import RESULTS, git_commit, machine, save

from edgeseg.data.synth import class_names, synth_image
from edgeseg.runtime.palette import voc_palette


def load_revision(rev: str, relative: str, name: str) -> ModuleType:
    """A module's source as it was at git revision `rev`, imported under another name."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{relative}"], cwd=RESULTS.parent.parent, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def p50_ms(step: Callable[[], Any], frames: int) -> float:
    step()
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        step()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def measure(pre: ModuleType, render: ModuleType, frame: np.ndarray, args: argparse.Namespace) -> dict[str, float]:
    """p50 ms of each host step with the given preprocess and render modules."""
    import cv2

    size, k = (args.size, args.size), args.classes
    if "bgr" in pre.preprocess.__kwdefaults__:  # the current runtime swaps channels while normalizing

        def prepare():
            return pre.preprocess(frame, size, bgr=True)
    else:  # before: the segmenter converted BGR → RGB with OpenCV first

        def prepare():
            return pre.preprocess(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), size)

    _, placement = prepare()
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((k, *size)).astype(np.float32)
    classes = logits.argmax(0).astype(np.int32)
    mask = pre.postprocess(classes, placement)
    renderer = render.Renderer(class_names(k), voc_palette(k).tolist())
    result = {
        "pre_ms": p50_ms(prepare, args.frames),
        "post_logits_ms": p50_ms(lambda: pre.postprocess(logits, placement), max(10, args.frames // 10)),
        "post_classes_ms": p50_ms(lambda: pre.postprocess(classes, placement), args.frames),
        "render_ms": p50_ms(lambda: renderer.draw(frame, mask, "12.3 FPS | infer 45.6 ms"), args.frames),
    }
    result["host_logits_ms"] = result["pre_ms"] + result["post_logits_ms"] + result["render_ms"]
    result["host_classes_ms"] = result["pre_ms"] + result["post_classes_ms"] + result["render_ms"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", help="git revision whose runtime pre-processing and rendering to time too")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--result", default="host_cost")
    args = parser.parse_args()

    import cv2

    from edgeseg.runtime import preprocess, render

    rgb, _ = synth_image(np.random.default_rng(0), 480, 640, 4)
    frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    rows = []
    if args.baseline:
        old_pre = load_revision(args.baseline, "runtime/preprocess.py", "baseline_preprocess")
        old_render = load_revision(args.baseline, "runtime/render.py", "baseline_render")
        rows.append({"code": f"baseline {args.baseline}", **measure(old_pre, old_render, frame, args)})
    rows.append({"code": "current", **measure(preprocess, render, frame, args)})
    result = {"commit": git_commit(), "machine": machine(), "settings": vars(args), "rows": rows}
    lines = [
        "# Host-side work per frame: 640×480 BGR frame → 512² network input, and back",
        "",
        f"p50 over {args.frames} calls per step, one thread, {args.classes} classes; commit {result['commit']}, "
        f"{result['machine']}. pre: BGR frame → normalized 1×3×512×512 float32 (letterbox). post: network "
        "output → uint8 mask at 640×480 (logits: argmax over classes on the host; classes: the argmax was in "
        "the graph). render: overlay and banner. host = pre + post + render.",
        "",
        "| code | pre ms | post (logits) ms | post (classes) ms | render ms | host, logits out | host, classes out |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['code']} | {r['pre_ms']:.2f} | {r['post_logits_ms']:.2f} | {r['post_classes_ms']:.2f} "
            f"| {r['render_ms']:.2f} | {r['host_logits_ms']:.2f} | {r['host_classes_ms']:.2f} |"
        )
    save(args.result, result, lines)


if __name__ == "__main__":
    main()
