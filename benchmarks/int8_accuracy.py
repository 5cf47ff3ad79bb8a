"""Why INT8 loses accuracy, and what keeps it: Q/DQ placement, calibration methods, FP32 input and output layers,
calibration set size.

    python benchmarks/int8_accuracy.py CHECKPOINT [CHECKPOINT ...] --data DATA [--work runs/int8_accuracy]
        [--result int8_accuracy] [--reuse]

Per checkpoint: the FP32 ONNX export (argmax in the graph, as deployed) at its training size, then one INT8
file per quantization recipe, each scored against FP32 on DATA's whole val split (argmax agreement, mIoU,
ΔmIoU), and for the old recipe the tensors INT8 damages most (signal-to-quantization-noise ratio of each
activation against FP32, ONNX Runtime's qdq_loss_debug). Writes benchmarks/results/RESULT.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from results_io import git_commit, machine, save, shown_path

from edgeseg.export.onnx_export import export_onnx
from edgeseg.export.parity import compare
from edgeseg.export.precision import FP32_INPUT_CONVS, FP32_INPUT_SHARE, quantize_int8
from edgeseg.export.verification import calibration_set, verification_set
from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgeseg.runtime.metadata import INPUT_NAME

# (label, calibration method, classifier..output kept FP32, calibration images, input head kept FP32, Q/DQ placement)
BEFORE, NOW = "onnxruntime", "tensorrt"
RECIPES = [
    ("min/max, ORT placement, all INT8 (first recipe)", "minmax", False, 64, False, BEFORE),
    ("percentile, ORT placement, output FP32 (before)", "percentile", True, 64, False, BEFORE),
    ("percentile, ORT placement, output and input head FP32", "percentile", True, 64, True, BEFORE),
    ("min/max, TensorRT placement, output FP32", "minmax", True, 64, False, NOW),
    ("entropy, TensorRT placement, output FP32", "entropy", True, 64, False, NOW),
    ("percentile, TensorRT placement, output FP32", "percentile", True, 64, False, NOW),
    ("percentile, TensorRT placement, output and input head FP32 (now)", "percentile", True, 64, True, NOW),
    ("the same (now), 16 calibration images", "percentile", True, 16, True, NOW),
    ("the same (now), 200 calibration images", "percentile", True, 200, True, NOW),
]


def predictor(path: Path):
    backend = OnnxRuntimeBackend(path, provider="cpu")
    return lambda x: backend.infer({backend.input_names[0]: x})[backend.output_names[0]]


def worst_tensors(fp32: Path, int8: Path, inputs: list[np.ndarray], count: int = 6) -> list[dict[str, Any]]:
    """The activations with the lowest SQNR (dB) of INT8 against FP32, over a few images."""
    from onnxruntime.quantization import qdq_loss_debug as debug

    feeds = [{INPUT_NAME: x} for x in inputs[:4]]
    folder = int8.parent
    debug.modify_model_output_intermediate_tensors(str(fp32), str(folder / "fp32_debug.onnx"))
    debug.modify_model_output_intermediate_tensors(str(int8), str(folder / "int8_debug.onnx"))
    float_acts = debug.collect_activations(str(folder / "fp32_debug.onnx"), iter(feeds))
    quant_acts = debug.collect_activations(str(folder / "int8_debug.onnx"), iter(feeds))
    matched = debug.create_activation_matching(quant_acts, float_acts)
    errors = debug.compute_activation_error(matched)
    # qdq_err: what quantizing this tensor alone loses (its own rounding and clipping); xmodel_err: how far
    # the INT8 network has drifted from FP32 by that point (accumulated).
    ranked = sorted((e["qdq_err"], name) for name, e in errors.items() if "qdq_err" in e)
    return [
        {
            "tensor": name,
            "sqnr_db": round(float(sqnr), 2),
            "accumulated_sqnr_db": round(float(errors[name].get("xmodel_err", float("nan"))), 2),
        }
        for sqnr, name in ranked[:count]
    ]


def _row(label: str, method: str, output_fp32: bool, images: int, report: Any) -> dict[str, Any]:
    """One recipe's line of the table (and its parity summary printed as it is measured)."""
    print(report.summary(), flush=True)
    return {
        "recipe": label,
        "method": method,
        "output_fp32": output_fp32,
        "calibration_images": images,
        "argmax_agreement": report.argmax_agreement,
        "fp32_mIoU": report.reference_miou,
        "int8_mIoU": report.candidate_miou,
        "delta_mIoU_points": 100 * report.delta_miou,
        "worst_class_delta_IoU": min(v for v in report.per_class_delta_iou.values() if v is not None),
    }


def evaluate(checkpoint: Path, data: Path, work: Path, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every recipe on one checkpoint; rows (and the diagnosis) in `saved`, measured before, are kept."""
    from edgeseg.train.checkpoint import model_from_checkpoint

    model, meta, _ = model_from_checkpoint(checkpoint)
    work.mkdir(parents=True, exist_ok=True)
    fp32 = work / "model.onnx"
    export_onnx(model, meta, fp32, output="classes", log=lambda m: None)
    inputs, labels, described = verification_set(meta, data, 10_000)
    reference = predictor(fp32)
    done = {r["recipe"]: r for r in (saved or {}).get("rows", [])}
    rows, diagnosis = [], (saved or {}).get("worst_tensors_before", [])
    for label, method, keep, images, head, placement in RECIPES:
        if label in done:
            rows.append(done[label])
            continue
        path = work / f"int8_{method}_{'fp32out' if keep else 'all'}_{images}_{'head' if head else ''}{placement}.onnx"
        calibration = calibration_set(data, meta, images)
        quantize_int8(
            fp32,
            path,
            calibration,
            INPUT_NAME,
            method=method,
            keep_output_fp32=keep,
            fp32_input_convs=FP32_INPUT_CONVS if head else 0,
            placement=placement,
        )
        report = compare(label, reference, predictor(path), inputs, meta.class_names, labels)
        rows.append({**_row(label, method, keep, len(calibration), report), "input_head_fp32": head})
        if not diagnosis and not keep and method == "minmax":
            try:
                diagnosis = worst_tensors(fp32, path, inputs)
            except Exception as exc:  # the diagnosis is an aid; the table stands without it
                diagnosis = [{"error": f"{type(exc).__name__}: {exc}"}]
    return {
        "checkpoint": str(checkpoint),
        "model_config": meta.model_config,
        "input_size": meta.input_size,
        "verified_on": described,
        "rows": rows,
        "worst_tensors_before": diagnosis,
    }


def markdown(result: dict[str, Any]) -> list[str]:
    lines = [
        "# INT8 that keeps accuracy: quantization recipes against FP32",
        "",
        f"ONNX Runtime CPU, QDQ INT8 with per-channel symmetric weights and symmetric activations (what TensorRT's "
        f"explicit quantization takes); commit {result['commit']}, {result['machine']}. Each row is scored against "
        "the FP32 export (argmax in the graph) on the whole val split. 'output FP32': the classifier conv and what "
        "follows it (×4 resize, argmax) stay FP32. 'input head FP32': the leading convolutions stay FP32, up to "
        f"{FP32_INPUT_CONVS} and at most {FP32_INPUT_SHARE:.0%} of the multiply-adds (MobileNetV2's stem and first "
        "three blocks with the dense head, two with the separable one). 'ORT placement': ONNX Runtime's own Q/DQ "
        "placement, which with symmetric activations also rounds each convolution's output before its ReLU; "
        "'TensorRT placement': Q/DQ on operator inputs only, the activation fused into the convolution, as "
        "TensorRT runs it.",
    ]
    for entry in result["checkpoints"]:
        config = entry["model_config"]
        head = "separable" if config.get("separable", False) else "dense"
        lines += [
            "",
            f"## {config['model']} ({head} head), {entry['input_size'][0]}×{entry['input_size'][1]}: "
            f"{entry['verified_on']}",
            "",
            "| recipe | calib images | argmax agreement | FP32 mIoU | INT8 mIoU | ΔmIoU (points) | worst class ΔIoU |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in entry["rows"]:
            lines.append(
                f"| {r['recipe']} | {r['calibration_images']} | {r['argmax_agreement']:.4%} | {r['fp32_mIoU']:.4f} "
                f"| {r['int8_mIoU']:.4f} | {r['delta_mIoU_points']:+.2f} | {r['worst_class_delta_IoU']:+.4f} |"
            )
        if entry["worst_tensors_before"]:
            lines += [
                "",
                "Activations INT8 damages most with the old recipe: SQNR of each tensor's own quantization (lower is "
                "worse), and in brackets of the INT8 network against FP32 at that tensor (accumulated error):",
                "",
            ]
            for t in entry["worst_tensors_before"]:
                found = (
                    f"{t['tensor']}: {t['sqnr_db']} dB (accumulated: {t['accumulated_sqnr_db']} dB)"
                    if "tensor" in t
                    else f"not measured: {t['error']}"
                )
                lines.append(f"- {found}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("runs/int8_accuracy"))
    parser.add_argument("--result", default="int8_accuracy")
    parser.add_argument("--reuse", action="store_true", help="keep a checkpoint's rows already measured in WORK")
    args = parser.parse_args()
    entries = []
    for index, checkpoint in enumerate(args.checkpoints):
        saved = args.work / f"{index}" / "entry.json"
        entry = json.loads(saved.read_text()) if args.reuse and saved.is_file() else None
        if entry is not None and entry["checkpoint"] != str(checkpoint):
            entry = None
        entry = evaluate(checkpoint, args.data, args.work / f"{index}", entry)
        saved.write_text(json.dumps(entry, indent=2))
        entries.append(entry)
    result = {"commit": git_commit(), "machine": machine(), "data": str(args.data), "checkpoints": entries}
    paths = {args.data: shown_path(args.data, "<data>")}  # as the report names them
    paths.update({c: shown_path(c, f"<checkpoint {i + 1}>") for i, c in enumerate(args.checkpoints)})
    save(args.result, result, markdown(result), paths=paths)


if __name__ == "__main__":
    main()
