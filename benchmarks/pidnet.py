"""PIDNet-S beside the separable DeepLabV3+ (MobileNetV2): cost, CPU latency, INT8 accuracy, and accuracy at the
quickstart's budget.

    nice -n 5 python benchmarks/pidnet.py [--work <tmp>/pidnet] [--stage all|train] [--images 200] [--size 128]
        [--epochs 15] [--batch-size 8] [--lr 1e-3] [--latency-size 512] [--rounds 20] [--threads 2]
        [--result pidnet]

As a user would: `edgeseg data synth` (--images scenes at --size², 4 classes), `edgeseg train` of both models
with the quickstart's settings (no pretrained weights, seed 0; both at once, so their wall times overlap) and
`edgeseg eval` of each best.pt on the val split. Then `edgeseg export` of each best.pt at its training size with
--fp16 --int8 --verify (the export's own parity rows: argmax agreement and ΔmIoU of each file against FP32 on the
whole val split), and again at --latency-size² with --int8 for the latency: ONNX Runtime FP32 and INT8 and
OpenVINO f32 (bf16 too where the CPU has bf16 hardware) and INT8, every file opened in one process, one untimed call
each, then --rounds rounds in which each runs once in turn on one real image, so load from other processes
falls on all alike. Parameters and GFLOPs (two per multiply-add) from the model zoo, with 19 classes as the
paper's Cityscapes figures. `--stage train` stops after training and evaluation (the long part; a later run
reuses what is in --work). Writes benchmarks/results/RESULT.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_io import git_commit, machine, save

EDGESEG = [sys.executable, "-m", "edgeseg"]
MODELS = {"DeepLabV3+ (separable)": "deeplabv3plus_mobilenetv2", "PIDNet-S": "pidnet_s"}
BASELINE = "DeepLabV3+ (separable)"
TARGETS = {"ort_latency_x": 0.85, "openvino_latency_x": 0.65, "int8_agreement": 0.99, "int8_delta_miou_points": -1.0}
# The paper's PIDNet-S (Cityscapes, 19 classes): 7.6 M parameters, 47.6 G multiply-adds at 1024×2048 (2 FLOPs each).
PAPER = {"params_m": 7.6, "gflops_1024x2048": 2 * 47.6, "tolerance": 0.03}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "edgeseg_pidnet")
    parser.add_argument("--stage", choices=("all", "train"), default="all")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--result", default="pidnet")
    return parser.parse_args()


def edgeseg(*args: str, background: bool = False) -> subprocess.Popen | None:
    print("+ edgeseg " + " ".join(args), flush=True)
    if background:
        return subprocess.Popen([*EDGESEG, *args], stdout=subprocess.DEVNULL)
    subprocess.run([*EDGESEG, *args], check=True, stdout=subprocess.DEVNULL)
    return None


def train_and_evaluate(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Val metrics and training time per model, trained at once (reused from --work, resumed where it stopped)."""
    data = args.work / "data"
    if not (data / "VOCdevkit").is_dir():
        edgeseg(
            *("data", "synth", str(data), "--images", str(args.images), "--size", str(args.size)),
            *("--classes", "4", "--seed", str(args.seed)),
        )
    done_path = args.work / "trained.json"
    done = json.loads(done_path.read_text()) if done_path.is_file() else {}
    running = {}
    for name in MODELS.values():
        if name in done:
            continue
        last = args.work / "runs" / name / "weights" / "last.pt"
        if last.is_file():  # an interrupted run of this script: the product resumes it where it stopped
            running[name] = edgeseg("train", "--resume", str(last), background=True)
            continue
        running[name] = edgeseg(
            *("train", "--model", name, "--data", str(data), "--size", str(args.size), "--epochs", str(args.epochs)),
            *("--batch-size", str(args.batch_size), "--lr", str(args.lr), "--seed", str(args.seed)),
            *("--project", str(args.work / "runs"), "--name", name, "--exist-ok"),
            background=True,
        )
    for name, process in running.items():
        if process.wait():
            raise SystemExit(f"training {name} failed with exit status {process.returncode}")
        metrics = args.work / "runs" / name / "val_metrics.json"
        edgeseg("eval", str(best(args, name)), "--data", str(data), "--json", str(metrics))
        done[name] = {"train_seconds": train_seconds(args.work / "runs" / name), **json.loads(metrics.read_text())}
        done_path.write_text(json.dumps(done, indent=2))
    return done


def train_seconds(run: Path) -> float:
    """The epochs' own times from results.csv: right across a resume, unlike the wall time of one process."""
    import csv

    with open(run / "results.csv", newline="") as handle:
        return round(sum(float(row["seconds"]) for row in csv.DictReader(handle)), 1)


def best(args: argparse.Namespace, name: str) -> Path:
    return args.work / "runs" / name / "weights" / "best.pt"


def export(args: argparse.Namespace, name: str, size: int | None) -> Path:
    """`edgeseg export` of the model's best.pt (FP32, FP16 and INT8 with parity on the whole val split at its
    training size; FP32 and INT8 at `size` for the latency), made once."""
    data = args.work / "data"
    out = args.work / "export" / f"{name}_{size or args.size}"
    if not (out / "export_report.json").is_file():
        resized = ("--size", str(size)) if size else ("--fp16", "--verify", str(data), "--verify-images", "100000")
        edgeseg(
            *("export", str(best(args, name)), "--out", str(out), "--int8", "--calib", str(data), *resized),
            *("--no-engine", "--max-int8-drop", "100"),  # the report judges INT8; the export keeps every file
        )
    return out


def parity_rows(folder: Path) -> dict[str, dict[str, Any]]:
    """The export's parity rows by name ("onnx int8 vs reference", ...), as `edgeseg export` wrote them."""
    report = json.loads((folder / "export_report.json").read_text())
    return {row["name"]: row for row in report["parity"] if "argmax_agreement" in row}


def open_backends(folders: dict[str, Path], threads: int) -> tuple[dict[str, Any], list[str]]:
    """(label → backend, notes): ONNX Runtime FP32 and INT8, OpenVINO f32 (and bf16 where the CPU runs it)
    and INT8."""
    from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
    from edgeseg.runtime.cpu import cpu_facts

    backends, notes = {}, []
    try:
        from edgeseg.runtime.backends.openvino import OpenVinoBackend
    except ImportError:
        OpenVinoBackend = None
        notes.append("OpenVINO: edgeseg.runtime.backends.openvino is not in this checkout")
    facts = cpu_facts()
    bf16 = facts.amx or "avx512_bf16" in facts.flags
    if not bf16:
        notes.append("OpenVINO bf16: this CPU has no bf16 hardware (no AMX, no AVX-512 BF16), where the hint runs f32")
    for model, folder in folders.items():
        # spin=False: idle ONNX Runtime threads must not burn the cores the next backend runs on
        backends[f"{model}|ONNX Runtime FP32"] = OnnxRuntimeBackend(folder / "model.onnx", threads=threads, spin=False)
        backends[f"{model}|ONNX Runtime INT8"] = OnnxRuntimeBackend(
            folder / "model.int8.onnx", threads=threads, spin=False
        )
        if OpenVinoBackend is not None:
            for precision in ("f32", "bf16") if bf16 else ("f32",):
                backends[f"{model}|OpenVINO {precision}"] = OpenVinoBackend(
                    folder / "model.onnx", device="CPU", precision=precision, threads=threads
                )
            # the same QDQ file as ONNX Runtime INT8; 7-bit weights where the CPU has no VNNI, as `edgeseg run`
            backends[f"{model}|OpenVINO INT8"] = OpenVinoBackend(
                folder / "model.int8.onnx", device="CPU", threads=threads
            )
    return backends, notes


def interleaved(backends: dict[str, Any], feed: Any, rounds: int) -> dict[str, list[float]]:
    """Milliseconds per inference, every backend once per round, in turn, after one untimed call each."""
    for backend in backends.values():
        backend.infer({backend.input_names[0]: feed})
    times: dict[str, list[float]] = {label: [] for label in backends}
    for _ in range(rounds):
        for label, backend in backends.items():
            start = time.perf_counter()
            backend.infer({backend.input_names[0]: feed})
            times[label].append(1000 * (time.perf_counter() - start))
    return times


def latency(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    """p50 per model and backend at --latency-size², and PIDNet-S's ratio to the baseline on each backend."""
    from edgeseg.export.verification import verification_set

    folders = {label: export(args, name, args.latency_size) for label, name in MODELS.items()}
    backends, notes = open_backends(folders, args.threads)
    meta = next(iter(backends.values())).metadata
    inputs, _, _ = verification_set(meta, args.work / "data", 1)
    times = interleaved(backends, inputs[0], args.rounds)
    rows = []
    for label, samples in times.items():
        model, backend = label.split("|")
        rows.append({"model": model, "backend": backend, "p50_ms": round(statistics.median(samples), 2),
                     "min_ms": round(min(samples), 2)})  # fmt: skip
    p50 = {(r["model"], r["backend"]): r["p50_ms"] for r in rows}
    for row in rows:
        row["x_vs_baseline"] = round(row["p50_ms"] / p50[(BASELINE, row["backend"])], 3)
    for backend in backends.values():
        backend.close()
    return rows, notes


def complexity() -> list[dict[str, Any]]:
    """Parameters (deployed, and training-only) and GFLOPs at 512² and 1024×2048, with 19 classes."""
    from edgeseg.models.complexity import describe_model

    rows = []
    for name in ("deeplabv3plus_mobilenetv2", "pidnet_s", "pidnet_m", "pidnet_l"):
        small = describe_model(name, upsample="bilinear", height=512, width=512, num_classes=19)
        city = describe_model(name, upsample="bilinear", height=1024, width=2048, num_classes=19)
        rows.append(
            {
                "model": name,
                "params_m": small["params_m"],
                "training_only_params_m": round(small["training_only_params"] / 1e6, 3),
                "gflops_512": small["gflops"],
                "gflops_1024x2048": city["gflops"],
            }
        )
    return rows


def accuracy(args: argparse.Namespace, trained: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Val scores at the quickstart's budget, and each export's parity against FP32 on the whole val split."""
    rows = []
    for label, name in MODELS.items():
        parity = parity_rows(export(args, name, None))
        fp16, int8 = parity["onnx fp16 vs reference"], parity["onnx int8 vs reference"]
        openvino_int8 = parity.get("openvino int8 vs reference")  # where OpenVINO is installed
        scores = trained[name]
        rows.append(
            {
                "model": label,
                "registry_name": name,
                **{k: scores[k] for k in ("mIoU", "mPA", "pixel_accuracy", "train_seconds")},
                "onnx_fp32_agreement": parity["onnx fp32 vs pytorch"]["argmax_agreement"],
                "fp16_agreement": fp16["argmax_agreement"],
                "int8_agreement": int8["argmax_agreement"],
                "int8_delta_miou_points": round(100 * int8["delta_mIoU"], 3),
                "verified_images": int8["images"],
                "openvino_int8_agreement": openvino_int8 and openvino_int8["argmax_agreement"],
                "openvino_int8_delta_miou_points": openvino_int8 and round(100 * openvino_int8["delta_mIoU"], 3),
            }
        )
    return rows


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    trained = train_and_evaluate(args)
    if args.stage == "train":
        print(json.dumps({k: {m: v[m] for m in ("mIoU", "train_seconds")} for k, v in trained.items()}, indent=2))
        return
    accuracy_rows = accuracy(args, trained)
    latency_rows, notes = latency(args)
    from edgeseg.runtime.cpu import cpu_facts

    facts = cpu_facts()
    result = {
        "commit": git_commit(),
        "machine": machine(),
        "cpu": {"model": facts.model, "instruction_sets": facts.instruction_sets, "amx": facts.amx},
        "load_average": os.getloadavg(),
        "niceness": os.nice(0),
        "settings": {k: v for k, v in vars(args).items() if k not in ("work", "stage")},
        "paper": PAPER,
        "targets": TARGETS,
        "complexity": complexity(),
        "accuracy": accuracy_rows,
        "latency": latency_rows,
        "notes": notes,
    }
    save(args.result, result, markdown(result))


def markdown(result: dict[str, Any]) -> list[str]:
    settings = result["settings"]
    size = settings["latency_size"]
    isa = ", ".join(result["cpu"]["instruction_sets"]) or "none of AVX2/AVX-512/VNNI/AMX"
    lines = [
        "# PIDNet-S beside the separable DeepLabV3+",
        "",
        f"Commit {result['commit']}, {result['machine']} ({result['cpu']['model']}; {isa}). Run under nice "
        f"{result['niceness']} on a shared machine, load average at the end {result['load_average'][0]:.1f}: compare "
        "rows of one table with each other, not with other runs.",
        "",
        "## Cost",
        "",
        "With 19 classes (the paper's Cityscapes setting); GFLOPs count a multiply-add as two (`edgeseg models`). "
        "Parameters: the deployed network (BatchNorm not folded); PIDNet's training-only heads apart.",
        "",
        "| model | params M | training-only heads M | GFLOPs 512² | GFLOPs 1024×2048 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in result["complexity"]:
        lines.append(
            f"| {r['model']} | {r['params_m']:.2f} | {r['training_only_params_m']:.3f} | {r['gflops_512']:.1f} "
            f"| {r['gflops_1024x2048']:.1f} |"
        )
    lines += ["", *cost_verdict(result), "", f"## ONNX Runtime and OpenVINO CPU latency at {size}×{size}", ""]
    lines += [
        f"Each model as `edgeseg export --size {size} --int8` writes it (the class map in the graph; model.int8.onnx: "
        f"QDQ, TensorRT placement), the files trained below. {settings['threads']} threads each; {settings['rounds']} "
        "interleaved rounds (every file once per round, in turn, on one real image), after one untimed call each. "
        "Ratio: PIDNet-S's p50 ÷ the DeepLabV3+'s on the same backend.",
        "",
        f"| backend | {BASELINE} p50 ms | PIDNet-S p50 ms | PIDNet-S min ms | ratio | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    by = {(r["model"], r["backend"]): r for r in result["latency"]}
    targets = result["targets"]
    for backend in dict.fromkeys(r["backend"] for r in result["latency"]):
        base, ours = by[(BASELINE, backend)], by[("PIDNet-S", backend)]
        target = {"ONNX Runtime FP32": targets["ort_latency_x"]}.get(backend)
        if backend.startswith("OpenVINO"):
            target = targets["openvino_latency_x"]
        lines.append(
            f"| {backend} | {base['p50_ms']:.1f} | {ours['p50_ms']:.1f} | {ours['min_ms']:.1f} "
            f"| {ours['x_vs_baseline']:.2f}× | {f'≤ {target:.2f}×' if target else '—'} |"
        )
    lines += ["", *[f"- {note}." for note in result["notes"]], "- TensorRT FP16 on a GPU: no GPU was lent to this run."]
    lines += [
        "",
        "## Accuracy at the quickstart's budget, and what FP16 and INT8 keep",
        "",
        f"`edgeseg data synth` ({settings['images']} images at {settings['size']}², 4 classes, seed "
        f"{settings['seed']}), then per model `edgeseg train --size {settings['size']} --epochs "
        f"{settings['epochs']} --batch-size {settings['batch_size']} --lr {settings['lr']} --seed "
        f"{settings['seed']}` (no pretrained weights; both at once, so the training times overlap: train s is "
        "the sum of its epochs' times in results.csv, a resumed run's included) and "
        "`edgeseg eval` of its best.pt on the val split. Agreement: `edgeseg export --fp16 --int8 --verify` of "
        "that best.pt at its training size, each file's class maps against FP32 (ONNX FP32: against PyTorch) on "
        "the whole val split, ΔmIoU in points on its labels.",
        "",
        "| model | val mIoU | mPA | pixel acc. | train s | ONNX FP32 | FP16 | INT8 | INT8 ΔmIoU | OpenVINO INT8 "
        "| its ΔmIoU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["accuracy"]:
        openvino = r.get("openvino_int8_agreement")
        lines.append(
            f"| {r['model']} | {r['mIoU']:.4f} | {r['mPA']:.4f} | {r['pixel_accuracy']:.4f} | {r['train_seconds']:.0f} "
            f"| {100 * r['onnx_fp32_agreement']:.2f} % | {100 * r['fp16_agreement']:.2f} % "
            f"| {100 * r['int8_agreement']:.2f} % | {r['int8_delta_miou_points']:+.2f} "
            + (f"| {100 * openvino:.2f} % | {r['openvino_int8_delta_miou_points']:+.2f} |" if openvino else "| — | — |")
        )
    lines += ["", *targets_verdict(result), "", "Rerun:", "", "```bash", RERUN, "```"]
    return lines


RERUN = "nice -n 5 python benchmarks/pidnet.py --work <tmp>/pidnet"


def cost_verdict(result: dict[str, Any]) -> list[str]:
    paper = result["paper"]
    row = next(r for r in result["complexity"] if r["model"] == "pidnet_s")
    params = row["params_m"] / paper["params_m"] - 1
    flops = row["gflops_1024x2048"] / paper["gflops_1024x2048"] - 1
    ok = max(abs(params), abs(flops)) <= paper["tolerance"]
    return [
        f"PIDNet-S against the paper's {paper['params_m']} M parameters and {paper['gflops_1024x2048'] / 2:.1f} G "
        f"multiply-adds at 1024×2048 ({paper['gflops_1024x2048']:.1f} GFLOPs here): {params:+.1%} and {flops:+.1%} "
        f"({'within' if ok else 'outside'} {paper['tolerance']:.0%}). The state dict is the authors' key for key "
        "(tests/models/test_pidnet.py); counted on their own network definition, the same 94.4 GFLOPs. With their "
        "pyramid's zero-padded windows, their network and this one give the same logits."
    ]


def targets_verdict(result: dict[str, Any]) -> list[str]:
    targets = result["targets"]
    by = {(r["model"], r["backend"]): r for r in result["latency"]}
    ort = by[("PIDNet-S", "ONNX Runtime FP32")]["x_vs_baseline"]
    lines = ["## Against the targets", ""]
    lines.append(
        f"- ONNX Runtime FP32 latency: {ort:.2f}× the DeepLabV3+'s (target ≤ {targets['ort_latency_x']}×: "
        f"{'met' if ort <= targets['ort_latency_x'] else 'not met'})."
    )
    for (model, backend), row in by.items():
        if model == "PIDNet-S" and backend.startswith("OpenVINO"):
            x = row["x_vs_baseline"]
            lines.append(
                f"- {backend} latency: {x:.2f}× (target ≤ {targets['openvino_latency_x']}×: "
                f"{'met' if x <= targets['openvino_latency_x'] else 'not met'})."
            )
    pid = next(r for r in result["accuracy"] if r["model"] == "PIDNet-S")
    agree, delta = pid["int8_agreement"], pid["int8_delta_miou_points"]
    floor = targets["int8_delta_miou_points"]
    lines.append(
        f"- INT8: agreement {100 * agree:.2f} % (target ≥ {100 * targets['int8_agreement']:.0f} %: "
        f"{'met' if agree >= targets['int8_agreement'] else 'not met'}), ΔmIoU {delta:+.2f} points (target ≥ "
        f"{floor:.0f}: {'met' if delta >= floor else 'not met'})."
    )
    return lines


if __name__ == "__main__":
    main()
