"""OpenVINO against ONNX Runtime on this CPU, at 512², interleaved in one run: the FP32 file on ONNX Runtime, the
same file on OpenVINO with the f32 and bf16 precision hints, and the same model.int8.onnx on OpenVINO (as it
loads: 7-bit weights where the CPU has no VNNI; and with the file's 8-bit weights) and on ONNX Runtime.

    nice -n 5 python benchmarks/openvino_cpu.py [--work <tmp>/openvino_cpu] [--size 512] [--rounds 30]
        [--threads 2] [--epochs 12] [--train-size 256] [--calib-images 64] [--verify-images 16]
        [--result openvino_cpu_512]

What it does, as a user would: `edgeseg data synth` (64 scenes at 512², 4 classes), a brief `edgeseg train` of the
separable DeepLabV3+ (MobileNetV2) at 256² (trained near the size it is measured at, so its class scores have
the margins of a model a user deploys: INT8's accuracy on a model trained at 96² and run at 512² was mostly the
rounding noise of logits close to ties), then `edgeseg export --size 512 --int8 --calib DATA --verify DATA`
(model.onnx with the argmax in the graph, and the QDQ model.int8.onnx; up to 64 calibration images, the export's
default, from the train split). Latency: every backend opened in one process, one untimed call each, then ROUNDS
rounds in which each runs once in turn on a real image, so load from other processes falls on all alike; p50 per backend
and its ratio to ONNX Runtime FP32. Agreement: each other row's class maps against ONNX Runtime FP32 on
the val images, and mIoU on their labels (ΔmIoU). Records the CPU, its instruction sets (AVX2, AVX-512, VNNI, AMX
from /proc/cpuinfo) and the precision each OpenVINO setting really ran in. Writes benchmarks/results/RESULT.*.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from results_io import git_commit, machine, save

from edgeseg.export.parity import compare
from edgeseg.export.verification import verification_set
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgeseg.runtime.backends.openvino import OpenVinoBackend
from edgeseg.runtime.cpu import cpu_facts

# Label, file, backend: None for ONNX Runtime, else OpenVINO's (precision hint, weights_7bit) with None for its
# defaults (weights_7bit=False: the file's 8-bit weights, whatever the CPU). What a CPU deployment picks from.
SETTINGS = [
    ("ONNX Runtime FP32", "model.onnx", None),
    ("OpenVINO f32", "model.onnx", ("f32", None)),
    ("OpenVINO bf16", "model.onnx", ("bf16", None)),
    ("OpenVINO INT8 (model.int8.onnx, default precision)", "model.int8.onnx", (None, None)),
    ("ONNX Runtime INT8 (the same model.int8.onnx)", "model.int8.onnx", None),
    ("OpenVINO INT8, the file's 8-bit weights kept", "model.int8.onnx", (None, False)),
]
TARGETS = {"speed_x_with_amx": 2.5, "bf16_agreement": 0.998, "int8_agreement": 0.99, "int8_delta_miou_points": -1.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "edgeseg_openvino_cpu")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--calib-images", type=int, default=64)
    parser.add_argument("--verify-images", type=int, default=16)
    parser.add_argument("--result", default="openvino_cpu_512")
    return parser.parse_args()


def prepare(args: argparse.Namespace) -> tuple[Path, Path]:
    """The dataset and the exported folder (model.onnx, model.int8.onnx), made once and reused."""
    from edgeseg.data.synth import synth_dataset
    from edgeseg.export.steps import ExportOptions, run_export
    from edgeseg.train.config import TrainConfig
    from edgeseg.train.trainer import Trainer

    data, export = args.work / "data", args.work / "export"
    if not (data / "VOCdevkit").is_dir():
        synth_dataset(data, images=64, size=args.size, num_classes=4, seed=0)
    if not (export / "model.int8.onnx").is_file():
        config = TrainConfig(
            model="deeplabv3plus_mobilenetv2", data=str(data), size=[args.train_size] * 2, epochs=args.epochs,
            batch_size=8, lr=args.lr, workers=0, project=str(args.work / "runs"), name="brief", warmup_epochs=0,
        )  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):
            checkpoint = Trainer(config).run() / "weights" / "best.pt"
        options = ExportOptions(
            checkpoint, out=export, size=(args.size, args.size), int8=True, calib=data,
            calib_images=args.calib_images, verify=data, verify_images=args.verify_images, engine=False,
            max_int8_drop=100.0,  # the benchmark reports INT8's accuracy; it does not judge the file
        )  # fmt: skip
        run_export(options, log=print)
    return data, export


def open_backends(export: Path, threads: int) -> dict[str, Backend]:
    backends: dict[str, Backend] = {}
    for label, file, openvino in SETTINGS:
        if openvino is None:  # spin=False: idle ONNX Runtime threads must not burn the cores OpenVINO runs on
            backends[label] = OnnxRuntimeBackend(export / file, provider="cpu", threads=threads, spin=False)
        else:
            precision, weights_7bit = openvino
            backends[label] = OpenVinoBackend(
                export / file, device="CPU", precision=precision, threads=threads, weights_7bit=weights_7bit
            )
    return backends


def interleaved(backends: dict[str, Backend], feed: np.ndarray, rounds: int) -> dict[str, list[float]]:
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


def agreement(backends: dict[str, Backend], inputs: list, labels: list, class_names: list) -> dict[str, dict]:
    """Each backend's class maps against ONNX Runtime FP32's, and both scored on the labels."""
    reference_label = SETTINGS[0][0]
    reference = backends[reference_label]

    def predictor(backend: Backend):
        return lambda x: backend.infer({backend.input_names[0]: x})[backend.output_names[0]]

    found = {}
    for label, backend in backends.items():
        if label == reference_label:
            continue
        report = compare(label, predictor(reference), predictor(backend), inputs, class_names, labels)
        found[label] = report.to_dict()
    return found


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data, export = prepare(args)
    backends = open_backends(export, args.threads)
    meta = backends[SETTINGS[0][0]].metadata
    inputs, labels, described = verification_set(meta, data, args.verify_images)
    times = interleaved(backends, inputs[0], args.rounds)
    parity = agreement(backends, inputs, labels, meta.class_names)
    base = statistics.median(times[SETTINGS[0][0]])
    rows = []
    for label, file, _backend in SETTINGS:
        backend = backends[label]
        row: dict[str, Any] = {
            "label": label,
            "file": file,
            "file_mb": round((export / file).stat().st_size / 1e6, 2),
            "settings": backend.settings,
            "p50_ms": round(statistics.median(times[label]), 2),
            "min_ms": round(min(times[label]), 2),
            "x_vs_onnxruntime_fp32": round(base / statistics.median(times[label]), 3),
        }
        if label in parity:
            p = parity[label]
            row["argmax_agreement"] = p["argmax_agreement"]
            row["delta_miou_points"] = None if p["delta_mIoU"] is None else round(100 * p["delta_mIoU"], 3)
            row["reference_miou"], row["miou"] = p["reference_mIoU"], p["candidate_mIoU"]
        rows.append(row)
    facts = cpu_facts()
    result = {
        "commit": git_commit(),
        "machine": machine(),
        "cpu": {
            "model": facts.model,
            "vendor": facts.vendor,
            "instruction_sets": facts.instruction_sets,
            "avx512_vnni": "avx512_vnni" in facts.flags,
            "amx": facts.amx,
        },
        "load_average": os.getloadavg(),
        "niceness": os.nice(0),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "work"},
        "verification": described.replace(str(data), "<tmp>/data"),
        "calibration_images": json.loads((export / "export_report.json").read_text())["calibration_images"],
        "model": f"{meta.model}, separable head, classes out, trained {args.epochs} epochs at {args.train_size}² on "
        f"synthetic scenes (val mIoU {rows[1]['reference_miou']:.3f} at {args.size}²)",
        "targets": TARGETS,
        "rows": rows,
    }
    save(args.result, result, markdown(result))


def markdown(result: dict) -> list[str]:
    cpu, settings, rows = result["cpu"], result["settings"], result["rows"]
    size = settings["size"]
    isa = ", ".join(cpu["instruction_sets"]) or "none of AVX2/AVX-512/VNNI/AMX"
    verdict = verdict_lines(result)
    lines = [
        f"# OpenVINO vs ONNX Runtime on the CPU, {size}×{size}",
        "",
        f"CPU: **{cpu['model']}** ({result['machine']}); instruction sets: {isa}. AVX-512 VNNI: "
        f"{'yes' if cpu['avx512_vnni'] else 'no'}; AMX: {'yes' if cpu['amx'] else 'no'}.",
        "",
        f"Model: {result['model']}, exported by `edgeseg export --size {size} --int8` (model.int8.onnx: QDQ, the "
        f"default TensorRT placement, {result['calibration_images']} calibration images). "
        f"{settings['threads']} threads each; {settings['rounds']} interleaved rounds (each backend once per round, in "
        "turn, on one real image); "
        f"commit {result['commit']}. Run under nice {result['niceness']} on a shared machine (load average at the "
        f"end {result['load_average'][0]:.1f}): compare rows with each other, not with other runs.",
        "",
        f"Agreement: class maps against ONNX Runtime FP32 on {result['verification']}; ΔmIoU in points on their "
        "labels. Speed-up: ONNX Runtime FP32 p50 ÷ the row's p50.",
        "",
        "| backend | file MB | runs in | p50 ms | min ms | speed-up | agreement | ΔmIoU (points) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ran = r["settings"].get("precision", "f32")
        if r["file"] == "model.int8.onnx":  # the Q/DQ-wrapped layers run INT8; the precision is the other layers'
            bits = " (7-bit weights)" if "int8_weights" in r["settings"] else ""
            ran = f"INT8{bits}, other layers {ran}"
        agree = f"{100 * r['argmax_agreement']:.2f} %" if "argmax_agreement" in r else "reference"
        delta = "—" if r.get("delta_miou_points") is None else f"{r['delta_miou_points']:+.2f}"
        lines.append(
            f"| {r['label']} | {r['file_mb']} | {ran} | {r['p50_ms']:.1f} | {r['min_ms']:.1f} "
            f"| {r['x_vs_onnxruntime_fp32']:.2f}× | {agree} | {delta} |"
        )
    lines += ["", *verdict, "", "Rerun:", "", "```bash", RERUN.format(size=size), "```"]
    return lines


RERUN = "nice -n 5 python benchmarks/openvino_cpu.py --work <tmp>/openvino_cpu --size {size}"


def verdict_lines(result: dict) -> list[str]:
    """The targets, and whether this CPU meets them (the speed target is for a CPU with AMX)."""
    rows = {r["label"]: r for r in result["rows"]}
    bf16, int8 = rows[SETTINGS[2][0]], rows[SETTINGS[3][0]]
    best = max(bf16["x_vs_onnxruntime_fp32"], int8["x_vs_onnxruntime_fp32"])
    ran_bf16 = bf16["settings"]["precision"] == "bf16"
    amx = result["cpu"]["amx"]
    speed = f"- Speed: target ≥ {TARGETS['speed_x_with_amx']}× for bf16 or INT8 on a CPU with AMX. " + (
        f"This CPU has AMX: best {best:.2f}× ({'met' if best >= TARGETS['speed_x_with_amx'] else 'not met'})."
        if amx
        else f"This CPU has no AMX, so the target does not apply: best {best:.2f}× here."
    )
    bf16_line = (
        f"- bf16: agreement {100 * bf16['argmax_agreement']:.2f} % (target ≥ {100 * TARGETS['bf16_agreement']:.1f} %)"
        + ("." if ran_bf16 else "; this CPU has no bf16 hardware, so the bf16 hint ran f32.")
    )
    int8_line = (
        f"- INT8: agreement {100 * int8['argmax_agreement']:.2f} % (target ≥ {100 * TARGETS['int8_agreement']:.0f} %), "
        f"ΔmIoU {int8['delta_miou_points']:+.2f} points (target ≥ {TARGETS['int8_delta_miou_points']:.0f})."
    )
    if "int8_weights" in int8["settings"]:
        kept, ort = rows[SETTINGS[5][0]], rows[SETTINGS[4][0]]
        int8_line += (
            f" OpenVINO gave the file's weights 7 bits as it loaded ({int8['settings']['int8_weights']}), since this"
            f" CPU has no VNNI: with their 8 bits its INT8 products saturate, and agreement is"
            f" {100 * kept['argmax_agreement']:.2f} %, ΔmIoU {kept['delta_miou_points']:+.2f} (ONNX Runtime on the"
            f" same file: {100 * ort['argmax_agreement']:.2f} %, {ort['delta_miou_points']:+.2f})."
        )
    return ["## Against the targets", "", speed, bf16_line, int8_line]


if __name__ == "__main__":
    main()
