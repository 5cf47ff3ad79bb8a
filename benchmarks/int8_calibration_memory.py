"""Peak memory and time of `edgeseg export --int8` at 512×512 as the calibration set grows.

    nice -n 5 python benchmarks/int8_calibration_memory.py --work <tmp>/int8_memory [--counts 16,64,256]
        [--before <checkout> --before-counts 4,8,16] [--same 4,8,16] [--verify-images 8]

Makes an untrained, seeded DeepLabV3+ (MobileNetV2, separable head) checkpoint at 512² with the product's
`save_checkpoint`, and a synthetic VOC dataset with `edgeseg data synth` (its train split calibrates, its val split
scores parity). Then, once per calibration count N, in a fresh process under `/usr/bin/time -f "%M %e"`:

    edgeseg export model.pt --size 512x512 --int8 --calib data --calib-images N --verify data --verify-images 8
        --no-engine --max-int8-drop 100

recording the peak resident memory, the wall time (and that of the INT8 step: calibration, then the INT8 parity
check), and the INT8 parity the export reports (argmax agreement and ΔmIoU against FP32 on the val images).
`--max-int8-drop 100` keeps model.int8.onnx whatever an untrained network's INT8 parity is, so that every run
writes one. With --before, the same command runs from another checkout of edgeseg (the code before calibration
was bounded, put first on PYTHONPATH; e.g. `git archive <commit> | tar -x -C <checkout>`) for the counts it
survives; for the counts in --same both codes run, and their model.int8.onnx graphs are compared byte for byte
(every node, Q/DQ scale and zero point, quantized weight).

Writes benchmarks/results/int8_calibration_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from results_io import git_commit, machine, save

SIZE = 512
CLASSES = 4
DATA_IMAGES = 330  # a fifth become the val split: 264 train images, enough for 256 calibration images


def make_checkpoint(path: Path) -> None:
    """The untrained model, seeded, saved as `edgeseg train` saves one (calibration memory does not depend on
    the weights' values)."""
    import torch

    from edgeseg.data.synth import class_names
    from edgeseg.models import build_model
    from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
    from edgeseg.train.checkpoint import make_metadata, save_checkpoint

    torch.manual_seed(0)
    model = build_model("deeplabv3plus_mobilenetv2", num_classes=CLASSES, separable=True).eval()
    names = tuple(class_names(CLASSES))
    save_checkpoint(path, model, make_metadata(model, names, (SIZE, SIZE), IMAGENET_MEAN, IMAGENET_STD, "letterbox"))


def edgeseg(*args: str) -> list[str]:
    """The `edgeseg` command (`python -m edgeseg`): this environment's, or another checkout's when the caller
    puts that first on PYTHONPATH."""
    return [sys.executable, "-m", "edgeseg", *args]


def prepare(work: Path) -> tuple[Path, Path]:
    checkpoint, data = work / "model.pt", work / "data"
    work.mkdir(parents=True, exist_ok=True)
    if not checkpoint.is_file():
        make_checkpoint(checkpoint)
    if not (data / "VOCdevkit").is_dir():
        args = [
            "data",
            "synth",
            str(data),
            "--images",
            str(DATA_IMAGES),
            "--size",
            str(SIZE),
            "--classes",
            str(CLASSES),
        ]
        subprocess.run(edgeseg(*args), check=True, capture_output=True, text=True)
    return checkpoint, data


def export(
    checkpoint: Path, data: Path, out: Path, images: int, verify_images: int, before: Path | None
) -> dict[str, Any]:
    """One `edgeseg export --int8` in a fresh process: its peak resident memory, wall time, the time of its INT8
    step (calibration, then the INT8 parity check), and the INT8 parity it reports."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if before is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(before), env.get("PYTHONPATH")) if p)
    args = [
        "export", str(checkpoint), "--size", f"{SIZE}x{SIZE}", "--int8", "--calib", str(data),
        "--calib-images", str(images), "--verify", str(data), "--verify-images", str(verify_images), "--no-engine",
        "--max-int8-drop", "100", "--out", str(out),
    ]  # fmt: skip
    timing = out.with_name(out.name + ".time")
    command = ["/usr/bin/time", "-f", "%M %e", "-o", str(timing), *edgeseg(*args)]
    seen: dict[str, float] = {}
    start = time.perf_counter()
    # Run from the scratch folder: `python -m` puts the working directory first on sys.path, and a checkout's
    # own folder there would hide the --before code on PYTHONPATH.
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=out.parent
    ) as process:
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip())
            for mark in ("INT8 calibration on", "onnx int8 vs reference"):
                if line.startswith(mark):
                    seen[mark] = time.perf_counter()
    wall = time.perf_counter() - start
    peak_kib = timing.read_text().split()[-2]
    row: dict[str, Any] = {
        "code": "before" if before is not None else "bounded",
        "calibration_images": images,
        "peak_rss_gib": round(int(peak_kib) / 2**20, 2),
        "wall_s": round(wall, 1),
        "exit_code": process.returncode,
    }
    if len(seen) == 2:
        row["int8_step_s"] = round(seen["onnx int8 vs reference"] - seen["INT8 calibration on"], 1)
    if process.returncode != 0:  # the out-of-memory killer's SIGKILL leaves a non-zero exit and no report
        row["error"] = next((line for line in reversed(lines) if line.strip()), "(no output)")
    else:
        report = json.loads((out / "export_report.json").read_text())
        int8 = next(p for p in report["parity"] if p["name"].startswith("onnx int8"))
        row.update(argmax_agreement=int8["argmax_agreement"], delta_mIoU=int8.get("delta_mIoU"))
    print(json.dumps(row), flush=True)
    return row


def same_int8(a: Path, b: Path) -> bool:
    """Whether two model.int8.onnx files hold the same graph and initializers (every Q/DQ scale and zero point)."""
    import onnx

    first, second = onnx.load(str(a)), onnx.load(str(b))
    return first.graph.SerializeToString() == second.graph.SerializeToString()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="Scratch folder (checkpoint, dataset, exports).")
    parser.add_argument("--counts", default="16,64,256", help="Calibration images per run, this code.")
    parser.add_argument("--before", type=Path, help="A checkout of edgeseg before calibration was bounded.")
    parser.add_argument("--before-commit", default="", help="Which commit the --before checkout holds (recorded).")
    parser.add_argument("--before-counts", default="4,8,16", help="Calibration images per run, the --before code.")
    parser.add_argument("--same", default="4,8,16", help="Counts both codes run, to compare their INT8 files.")
    parser.add_argument("--verify-images", type=int, default=8, help="Val images the export checks parity on.")
    return parser.parse_args()


def counts(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n]


def main() -> None:
    args = parse_args()
    args.work = args.work.resolve()
    before = args.before.resolve() if args.before else None
    checkpoint, data = prepare(args.work)
    rows, identical = [], {}
    bounded = sorted(set(counts(args.counts)) | (set(counts(args.same)) if args.before else set()))
    for n in bounded:
        rows.append(export(checkpoint, data, args.work / f"bounded_{n}", n, args.verify_images, None))
    if args.before:
        for n in counts(args.before_counts):
            rows.append(export(checkpoint, data, args.work / f"before_{n}", n, args.verify_images, before))
            pair = [args.work / f"{code}_{n}" / "model.int8.onnx" for code in ("bounded", "before")]
            if n in counts(args.same) and all(p.is_file() for p in pair):
                identical[n] = same_int8(*pair)
    for row in rows:
        if row["code"] == "bounded" and row["calibration_images"] in identical:
            row["int8_file_same_as_before"] = identical[row["calibration_images"]]
    peaks = [
        r["peak_rss_gib"] for r in rows if r["code"] == "bounded" and r["calibration_images"] in counts(args.counts)
    ]
    result = {
        "what": "peak resident memory and wall time of `edgeseg export --int8` at 512×512 per calibration count",
        "model": "deeplabv3plus_mobilenetv2, separable head, untrained (seed 0), 4 classes",
        "data": f"edgeseg data synth --images {DATA_IMAGES} --size {SIZE} --classes {CLASSES}",
        "command": (
            "nice -n 5 python benchmarks/int8_calibration_memory.py --work <tmp>/int8_memory "
            f"--counts {args.counts}"
            + (
                f" --before <checkout> --before-commit {args.before_commit} --before-counts {args.before_counts} "
                f"--same {args.same}"
                if args.before
                else ""
            )
        ),
        "export_command": (
            "edgeseg export <tmp>/int8_memory/model.pt --size 512x512 --int8 --calib <tmp>/int8_memory/data "
            f"--calib-images N --verify <tmp>/int8_memory/data --verify-images {args.verify_images} --no-engine "
            "--max-int8-drop 100 --out <tmp>/int8_memory/bounded_N"
        ),
        "machine": machine(),
        "cpu_count": os.cpu_count(),
        "commit": git_commit(),
        "verify_images": args.verify_images,
        "before_commit": args.before_commit or None,
        "peak_spread": round(max(peaks) / min(peaks) - 1, 4) if peaks else None,
        "rows": rows,
    }
    save("int8_calibration_memory", result, markdown(result))


def markdown(result: dict[str, Any]) -> list[str]:
    def fmt(value: Any, pattern: str) -> str:
        return "—" if value is None else pattern.format(value)

    lines = [
        "# INT8 calibration memory: `edgeseg export --int8` at 512×512",
        "",
        f"{result['model']}; calibration and parity data: `{result['data']}`. Each row is one export in a fresh "
        "process, measured by `/usr/bin/time -f %M` (peak resident memory) on "
        f"{result['machine']}, commit {result['commit']}. Times are rough: the machine was shared with other work.",
        "",
        f"    {result['export_command']}",
        "",
        "'bounded' is this code: calibration holds one image's activations at a time, in two passes over the "
        "images. 'before' is the code it replaced"
        + (f" (commit {result['before_commit']})" if result.get("before_commit") else "")
        + ", which held every calibration image's activations until the end. "
        f"Parity: the export's own check of model.int8.onnx against FP32 on {result['verify_images']} val images (an "
        "untrained network, so the values only show that they do not change). 'INT8 step': from the export's "
        "'INT8 calibration on' line to its INT8 parity line (calibration, then the INT8 check).",
        "",
        "| code | calibration images | peak memory GiB | wall s | INT8 step s | INT8 argmax agreement | ΔmIoU "
        "| INT8 file as before |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in result["rows"]:
        same = r.get("int8_file_same_as_before")
        lines.append(
            f"| {r['code']} | {r['calibration_images']} | {r['peak_rss_gib']:.2f} | {r['wall_s']:.0f} | "
            f"{fmt(r.get('int8_step_s'), '{:.0f}')} | "
            f"{fmt(r.get('argmax_agreement'), '{:.4%}')} | {fmt(r.get('delta_mIoU'), '{:+.4f}')} | "
            f"{'—' if same is None else 'identical' if same else 'DIFFERENT'} |"
            + (f" ({r['error']})" if "error" in r else "")
        )
    if result["peak_spread"] is not None:
        lines += ["", f"Largest peak over smallest, bounded runs: +{100 * result['peak_spread']:.1f} %."]
    lines += ["", f"Rerun: `{result['command']}`"]
    return lines


if __name__ == "__main__":
    main()
