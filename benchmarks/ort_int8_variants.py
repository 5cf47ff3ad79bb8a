"""Which INT8 flavour ONNX Runtime CPU runs fastest here, and what each costs in accuracy.

    python benchmarks/ort_int8_variants.py [--checkpoint BEST.pt --data DATA] [--model deeplabv3plus_mobilenetv2]
        [--head separable] [--size 512] [--classes 21] [--rounds 10] [--work runs/ort_int8] [--result ort_int8]

The shipped model.int8.onnx is QDQ with symmetric INT8 activations and per-channel INT8 weights (S8S8), what
TensorRT's explicit quantization takes, placed as TensorRT runs it (Q/DQ on operator inputs, none between a
convolution and its activation) with the input head FP32; the file shipped before used ONNX Runtime's own
placement. ONNX Runtime's fast integer path on AVX2 without VNNI is U8S8 (uint8 activations, int8 weights), so
the other variants are the ones that could be faster on this CPU: U8S8 in QDQ and QOperator format, per-channel
and per-tensor weights, depthwise convolutions left FP32. Every variant keeps the classifier and what follows it
FP32 (`output_tail`) and calibrates by percentile, as the shipped file does.

Latency: the bench's untrained MODEL (DeepLabV3+: with HEAD) at SIZE² (latency depends on shapes only), each file run
in turn, round-robin (benchmarks/interleaved_latency.py), so the machine's drifting load falls on all alike.
Accuracy (with --checkpoint): each variant of that trained checkpoint against its FP32 export on DATA's val
split. Writes benchmarks/results/RESULT_latency_cpu_SIZE.{json,md} and RESULT_accuracy.{json,md}.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from results_io import git_commit, machine, save, shown_path

from edgeseg.export.onnx_export import export_onnx
from edgeseg.export.parity import compare
from edgeseg.export.precision import output_tail, quantize_int8
from edgeseg.runtime.metadata import INPUT_NAME

# label → the shipped recipe's arguments (a dict, for `quantize_int8`), or an ONNX Runtime flavour: (format,
# activations, per-channel weights, depthwise convolutions left FP32)
VARIANTS: dict[str, dict[str, Any] | tuple[str, str, bool, bool]] = {
    "QDQ S8S8 per-channel, ORT placement (shipped before)": {"placement": "onnxruntime", "fp32_input_convs": 0},
    "QDQ S8S8 per-channel, TensorRT placement, input head FP32 (shipped)": {},
    "QDQ U8S8 per-channel": ("QDQ", "u8", True, False),
    "QDQ U8S8 per-tensor": ("QDQ", "u8", False, False),
    "QOperator U8S8 per-channel": ("QOperator", "u8", True, False),
    "QOperator U8S8 per-tensor": ("QOperator", "u8", False, False),
    "QOperator U8S8 per-tensor, depthwise FP32": ("QOperator", "u8", False, True),
}


def depthwise(proto: Any) -> list[str]:
    """Names of the grouped (depthwise) convolutions: MLAS has no fast integer kernel for them on AVX2."""
    return [
        n.name
        for n in proto.graph.node
        if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
    ]


def quantize_variant(
    fp32: Path, out: Path, calibration: list[np.ndarray], variant: dict[str, Any] | tuple[str, str, bool, bool]
) -> None:
    """One variant of model.int8.onnx: the shipped recipe (`quantize_int8`) with `variant`'s arguments, or an
    ONNX Runtime flavour."""
    if isinstance(variant, dict):
        quantize_int8(fp32, out, calibration, INPUT_NAME, **variant)
        return
    import onnx
    from onnxruntime import quantization
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fmt, _, per_channel, skip_depthwise = variant
    batches = iter(calibration)

    class Reader(quantization.CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        proto = onnx.load(str(prepared))
        excluded = output_tail(proto) + (depthwise(proto) if skip_depthwise else [])
        quantization.quantize_static(
            str(prepared),
            str(out),
            Reader(),
            quant_format=getattr(quantization.QuantFormat, fmt),
            per_channel=per_channel,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.Percentile,
            nodes_to_exclude=excluded,
            extra_options={"WeightSymmetric": True, "CalibPercentile": 99.999},
        )


def make_variants(fp32: Path, folder: Path, calibration: list[np.ndarray]) -> dict[str, Path]:
    files = {}
    for index, (label, variant) in enumerate(VARIANTS.items()):
        files[label] = folder / f"int8_{index}.onnx"
        print(f"quantizing {label}", flush=True)
        quantize_variant(fp32, files[label], calibration, variant)
    return files


def synthetic_calibration(meta: Any, count: int) -> list[np.ndarray]:
    """`count` synthetic scenes pre-processed as `edgeseg run` does (latency does not depend on what they show)."""
    from edgeseg.data.synth import synth_image
    from edgeseg.runtime.preprocess import preprocess_for

    rng = np.random.default_rng(0)
    size = meta.input_size[0]
    return [preprocess_for(synth_image(rng, size, size, 4)[0], meta, bgr=False)[0] for _ in range(count)]


def latency(args: argparse.Namespace) -> None:
    """The untrained bench model at SIZE², FP32 and every variant, timed round-robin."""
    from edgeseg.bench.artifacts import prepare_checkpoint
    from edgeseg.bench.config import Variant
    from edgeseg.train.checkpoint import model_from_checkpoint

    head = {"separable": args.head == "separable"} if args.model.startswith("deeplabv3plus") else {}
    variant = Variant(args.model, "bilinear", args.head if head else "", head, args.size)
    folder = args.work / f"latency_{variant.name}"
    model, meta, _ = model_from_checkpoint(prepare_checkpoint(folder, variant, num_classes=args.classes, stamp={}))
    fp32 = folder / "model.onnx"
    export_onnx(model, meta, fp32, output="classes", log=lambda m: None)
    files = make_variants(fp32, folder, synthetic_calibration(meta, 8))
    note = (
        f"{variant.name.replace('_', ' ')}: {args.size}², {args.classes} classes, argmax in the graph, untrained "
        "weights (INT8 calibrated on 8 synthetic images), every INT8 variant with the classifier and what follows "
        "it FP32 and percentile calibration."
    )
    listed = [f"FP32={fp32}", *(f"{label}={path}" for label, path in files.items())]
    command = [sys.executable, str(Path(__file__).parent / "interleaved_latency.py"), *listed]
    command += ["--rounds", str(args.rounds), "--result", f"{args.result}_latency_cpu_{args.size}", "--note", note]
    command += ["--work", str(args.work)]  # the report names the files relative to it
    subprocess.run(command, check=True)


def accuracy(args: argparse.Namespace) -> None:
    """Every variant of the trained checkpoint scored against its FP32 export on the val split."""
    from int8_accuracy import predictor

    from edgeseg.export.verification import calibration_set, verification_set
    from edgeseg.train.checkpoint import model_from_checkpoint

    model, meta, _ = model_from_checkpoint(args.checkpoint)
    folder = args.work / "accuracy"
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model.onnx"
    export_onnx(model, meta, fp32, output="classes", log=lambda m: None)
    inputs, labels, described = verification_set(meta, args.data, 10_000)
    files = make_variants(fp32, folder, calibration_set(args.data, meta, 64))
    reference, rows = predictor(fp32), []
    for label, path in files.items():
        report = compare(label, reference, predictor(path), inputs, meta.class_names, labels)
        print(report.summary(), flush=True)
        rows.append(
            {
                "variant": label,
                "argmax_agreement": report.argmax_agreement,
                "fp32_mIoU": report.reference_miou,
                "int8_mIoU": report.candidate_miou,
                "delta_mIoU_points": 100 * report.delta_miou,
            }
        )
    result = {"commit": git_commit(), "machine": machine(), "checkpoint": str(args.checkpoint), "rows": rows}
    lines = [
        "# ONNX Runtime INT8 variants: accuracy against FP32",
        "",
        f"`{args.checkpoint}` ({meta.input_size[0]}² input), {described}; 64 calibration images, percentile "
        f"calibration, the classifier and what follows it FP32 in every variant; commit {result['commit']}, "
        f"{result['machine']}.",
        "",
        "| variant | argmax agreement | FP32 mIoU | INT8 mIoU | ΔmIoU (points) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['argmax_agreement']:.4%} | {r['fp32_mIoU']:.4f} | {r['int8_mIoU']:.4f} "
            f"| {r['delta_mIoU_points']:+.2f} |"
        )
    named = {"<checkpoint>": args.checkpoint, "<data>": args.data}
    save(f"{args.result}_accuracy", result, lines, paths={p: shown_path(p, n) for n, p in named.items() if p})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="a trained best.pt: also score each variant's accuracy")
    parser.add_argument("--data", type=Path, help="its dataset (val split scored, train split calibrates)")
    parser.add_argument("--model", default="deeplabv3plus_mobilenetv2", help="the latency part's model")
    parser.add_argument("--head", default="separable", choices=("separable", "dense"), help="DeepLabV3+'s head")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("runs/ort_int8"))
    parser.add_argument("--result", default="ort_int8")
    parser.add_argument("--skip-latency", action="store_true", help="only the accuracy part")
    args = parser.parse_args()
    if not args.skip_latency:
        latency(args)
    if args.checkpoint:
        accuracy(args)


if __name__ == "__main__":
    main()
