"""edgeseg's DeepLabV3+ MobileNetV2 (separable and dense heads) beside segmentation_models_pytorch's
DeepLabV3Plus(mobilenet_v2): parameters, GFLOPs and ONNX Runtime CPU FP32 latency at 512², all three exported
the same way (issue 15's target: separable ≤ 15 GFLOPs and no slower than smp).

smp is not a dependency of edgeseg, and it does not import in the project's environment: it imports timm, which
imports torchvision, and PyPI's torchvision fails beside torch 2.13.0+cpu ("operator torchvision::nms does not
exist"). So the export runs in a throwaway venv where torch and torchvision import together (x86_64), and the
timing, which is ONNX Runtime's alone, runs in the project's own venv:

    SMPENV=../smpenv  # a throwaway folder outside the checkout; the report calls it <smpenv>
    python3 -m venv "$SMPENV"
    "$SMPENV"/bin/pip install torch==2.14.1 torchvision==0.29.1
    printf 'torch==2.14.1\\ntorchvision==0.29.1\\n' > "$SMPENV"/constraints.txt
    "$SMPENV"/bin/pip install -c "$SMPENV"/constraints.txt segmentation-models-pytorch timm onnx onnxscript \\
        onnxruntime -e '.[export,cv]'
    "$SMPENV"/bin/python benchmarks/smp_comparison.py export [--work runs/smp_comparison]
    .venv/bin/python benchmarks/smp_comparison.py measure [--work runs/smp_comparison] [--rounds 30] [--threads 2]
    rm -rf "$SMPENV"

export: builds the three (random weights, eval mode, 21 classes), counts parameters and FLOPs with
edgeseg.models.complexity (torch.utils.flop_counter, a multiply-add = 2 FLOPs), exports each with one function
(torch.onnx's TorchScript exporter, opset 17, 1×3×512×512 float input, full-resolution logits, constant
folding), runs onnx.checker and writes WORK/{smp,separable,dense}.onnx and WORK/specs.json (with each graph's
op counts and conv FLOPs by kind and resolution). measure: ONNX Runtime CPU, round-robin over the three files
(benchmarks/interleaved_latency.py), checks each output is 1×21×512×512, and writes
benchmarks/results/smp_comparison.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import warnings
from collections import Counter
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from results_io import git_commit, machine, save, shown_path

LABELS = ("smp", "separable", "dense")  # smp first: ratios are to it
TITLES = {
    "smp": "smp DeepLabV3Plus(mobilenet_v2)",
    "separable": "edgeseg deeplabv3plus_mobilenetv2, separable head (default)",
    "dense": "edgeseg deeplabv3plus_mobilenetv2, dense head",
}
SIZE, CLASSES, OPSET = 512, 21, 17
GFLOPS_TARGET = 15.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("export", "measure"))
    parser.add_argument("--work", type=Path, default=Path("runs/smp_comparison"), help="where the .onnx files go")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--result", default="smp_comparison")
    return parser.parse_args()


# ---- export (the side venv: smp, timm, torchvision) ----


def build(label: str) -> Any:
    """The model `label` names, random weights, eval mode."""
    if label == "smp":
        import segmentation_models_pytorch as smp  # only in the side venv, never an edgeseg dependency

        model = smp.DeepLabV3Plus(encoder_name="mobilenet_v2", encoder_weights=None, classes=CLASSES)
    else:
        from edgeseg.models.registry import build_model

        model = build_model("deeplabv3plus_mobilenetv2", num_classes=CLASSES, separable=label == "separable")
    return model.eval()


def onnx_metadata(label: str) -> dict[str, Any]:
    """The same edgeseg metadata for each file (the runtime's backends refuse a file without it)."""
    from edgeseg.runtime.metadata import ModelMetadata
    from edgeseg.runtime.palette import VOC_CLASSES, voc_palette
    from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD

    return ModelMetadata(
        model=TITLES[label],
        model_config={"label": label},
        class_names=list(VOC_CLASSES),
        palette=voc_palette(CLASSES).tolist(),
        input_size=[SIZE, SIZE],
        mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD),
        resize="resize",
        upsample="bilinear",
        output="logits",
    ).to_dict()


def export_logits(model: Any, path: Path, label: str) -> Any:
    """One export for all three: TorchScript exporter, opset 17, fixed 1×3×512×512 input, logits, constant
    folding; onnx.checker (full) before the file is written. Returns the ModelProto."""
    import onnx
    import torch

    from edgeseg.atomic import atomic_path
    from edgeseg.export.onnx_metadata import embed

    # Quiet: the TorchScript exporter's deprecation note, TracerWarnings on edgeseg's padding branch (fixed size).
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, SIZE, SIZE),),
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=["images"],
            output_names=["logits"],
            do_constant_folding=True,
        )
        proto = onnx.load(str(tmp))
        embed(proto, onnx_metadata(label))
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))
    return proto


def _attribute(node: Any, name: str, default: Any) -> Any:
    for attr in node.attribute:
        if attr.name == name:
            return attr.s.decode() if attr.type == attr.STRING else (list(attr.ints) or attr.i)
    return default


def conv_kind(node: Any, weight: list[int]) -> str:
    _, in_per_group, kh, kw = weight
    group = _attribute(node, "group", 1)
    if group > 1 and in_per_group == 1:
        return "depthwise"
    return "pointwise 1×1" if (kh, kw) == (1, 1) else f"dense {kh}×{kw}"


def graph_summary(proto: Any) -> dict[str, Any]:
    """Node counts by op type; Conv FLOPs (2 × multiply-adds, bias left out) by kind and output resolution,
    read off the graph itself (shape inference), so the three files are counted alike."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.graph.value_info, *inferred.graph.output]
    }
    weights = {i.name: list(i.dims) for i in proto.graph.initializer}
    by_kind: Counter = Counter()
    by_size: Counter = Counter()
    convs: Counter = Counter()
    for node in proto.graph.node:
        if node.op_type != "Conv":
            continue
        weight = weights[node.input[1]]
        out = shapes[node.output[0]]
        flops = 2 * out[1] * out[2] * out[3] * weight[1] * weight[2] * weight[3]
        kind = conv_kind(node, weight)
        convs[kind] += 1
        by_kind[kind] += flops
        by_size[f"{out[2]}×{out[3]}"] += flops
    resize = [
        f"{_attribute(n, 'mode', 'nearest')}/{_attribute(n, 'coordinate_transformation_mode', 'half_pixel')}"
        for n in proto.graph.node
        if n.op_type == "Resize"
    ]
    return {
        "nodes": len(proto.graph.node),
        "op_types": dict(Counter(n.op_type for n in proto.graph.node).most_common()),
        "convs_by_kind": dict(convs),
        "conv_gflops_by_kind": {k: round(v / 1e9, 2) for k, v in by_kind.most_common()},
        "conv_gflops_by_output_size": {k: round(v / 1e9, 2) for k, v in by_size.most_common()},
        "resize": resize,
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("torch", "torchvision", "segmentation-models-pytorch", "timm", "onnx", "onnxruntime", "edgeseg"):
        try:
            found[package] = package_metadata.version(package)
        except package_metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def export_all(work: Path) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch

    from edgeseg.models.complexity import count_flops, count_params

    work.mkdir(parents=True, exist_ok=True)
    specs: dict[str, Any] = {"versions": versions(), "commit": git_commit(), "opset": OPSET, "exporter": "torchscript"}
    specs["models"] = {}
    image = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    for label in LABELS:
        torch.manual_seed(0)
        model = build(label)
        path = work / f"{label}.onnx"
        proto = export_logits(model, path, label)
        with torch.no_grad():
            expected = model(image).numpy()
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"images": image.numpy()})[0]
        specs["models"][label] = {
            "title": TITLES[label],
            "file": path.name,
            "params": count_params(model),
            "params_m": round(count_params(model) / 1e6, 3),
            "gflops": round(count_flops(model, SIZE, SIZE) / 1e9, 2),
            "torch_output_shape": list(expected.shape),
            "ort_vs_torch_max_abs_diff": float(np.abs(expected - got).max()),
            "graph": graph_summary(proto),
        }
        row = specs["models"][label]
        print(
            f"{label}: {row['params_m']} M params, {row['gflops']} GFLOPs, {row['graph']['nodes']} nodes, "
            f"ORT vs torch max |Δ| {row['ort_vs_torch_max_abs_diff']:.2e} -> {path}",
            flush=True,
        )
    (work / "specs.json").write_text(json.dumps(specs, indent=2) + "\n")
    print(f"wrote {work / 'specs.json'}")


# ---- measure (any venv with edgeseg[export]; only ONNX Runtime is timed) ----


def measure(work: Path, rounds: int, threads: int) -> dict[str, Any]:
    import onnxruntime as ort
    from interleaved_latency import open_models, round_robin, rows_of

    specs = json.loads((work / "specs.json").read_text())
    load_start = os.getloadavg()
    models = open_models([f"{label}={work / specs['models'][label]['file']}" for label in LABELS], threads)
    shapes = {label: list(next(iter(m.backend.infer(m.feed).values())).shape) for label, m in models.items()}
    bad = {label: shape for label, shape in shapes.items() if shape != [1, CLASSES, SIZE, SIZE]}
    if bad:
        raise SystemExit(f"outputs are not 1×{CLASSES}×{SIZE}×{SIZE}: {bad}")
    times = round_robin(models, rounds)
    load_end = os.getloadavg()
    rows = rows_of(models, times)
    smp_p50 = statistics.median(times["smp"])
    for row in rows:
        label = row["label"]
        row.update({k: specs["models"][label][k] for k in ("title", "params", "params_m", "gflops")})
        row["output_shape"] = shapes[label]
        row["p50_over_smp"] = row["p50_ms"] / smp_p50
        per_round = [t / s for t, s in zip(times[label], times["smp"])]
        row["per_round_ratio_to_smp_median"] = statistics.median(per_round)
        row["rounds_faster_than_smp"] = sum(r < 1 for r in per_round)
        row["times_ms"] = times[label]
    separable = next(r for r in rows if r["label"] == "separable")
    return {
        "commit": git_commit(),
        "machine": machine(),
        "settings": {
            "rounds": rounds,
            "threads": threads,
            "work": shown_path(work, "<work>"),
            "size": SIZE,
            "classes": CLASSES,
        },
        "measure_versions": {"python": platform.python_version(), "onnxruntime": ort.__version__},
        "export": {k: specs[k] for k in ("versions", "commit", "opset", "exporter")},
        "load_average_start": load_start,
        "load_average_end": load_end,
        "target": {
            "gflops_max": GFLOPS_TARGET,
            "gflops_met": separable["gflops"] <= GFLOPS_TARGET,
            "latency_met": separable["p50_ms"] <= smp_p50,
        },
        "rows": rows,
        "graphs": {label: specs["models"][label]["graph"] for label in LABELS},
    }


# ---- the report ----

WHY_NOT_A_DEPENDENCY = (
    "smp is not a dependency of edgeseg, and cannot even be imported in its environment: `import "
    "segmentation_models_pytorch` imports timm, which imports torchvision (`from torchvision.ops.misc import "
    "FrozenBatchNorm2d`); PyPI's torchvision 0.29.1 beside torch 2.13.0+cpu fails on import with `RuntimeError: "
    "operator torchvision::nms does not exist`. edgeseg writes its backbones itself, with torchvision's parameter "
    "names, for the same reason. Hence the two steps: the export in a throwaway venv where torch 2.14.1 and "
    "torchvision 0.29.1 (a CUDA build, run on the CPU) import together, deleted afterwards; the timing in the "
    "project's own venv, where only ONNX Runtime runs."
)


def _load(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _verdict(met: bool) -> str:
    return "yes" if met else "**no**"


def markdown(result: dict[str, Any]) -> list[str]:
    rows = {r["label"]: r for r in result["rows"]}
    smp, sep = rows["smp"], rows["separable"]
    target, versions_ = result["target"], result["export"]["versions"]
    met = target["gflops_met"] and target["latency_met"]
    settings = result["settings"]
    lines = [
        "# Separable DeepLabV3+ against segmentation_models_pytorch's DeepLabV3Plus(mobilenet_v2)",
        "",
        f"**The target (≤ 15 GFLOPs, no slower than smp) is {'met' if met else 'not met'}.** "
        f"edgeseg's separable head: {sep['gflops']} GFLOPs "
        f"at 512² (≤ {target['gflops_max']:g}: {_verdict(target['gflops_met'])}); ONNX Runtime CPU FP32 p50 "
        f"{sep['p50_ms']:.1f} ms against smp's {smp['p50_ms']:.1f} ms in the same run, {sep['p50_over_smp']:.3f}× "
        f"smp's time (≤ 1.000: {_verdict(target['latency_met'])}); faster than smp in "
        f"{sep['rounds_faster_than_smp']} of {settings['rounds']} rounds.",
        "",
        f"Export (`smp_comparison.py export`, throwaway venv): torch {versions_['torch']}, torchvision "
        f"{versions_['torchvision']}, segmentation-models-pytorch {versions_['segmentation-models-pytorch']}, timm "
        f"{versions_['timm']}, onnx {versions_['onnx']}, commit {result['export']['commit']}. All three built with "
        f"random weights in eval mode, {settings['classes']} classes, and exported by one function: torch.onnx's "
        f"{result['export']['exporter']} exporter, opset {result['export']['opset']}, fixed 1×3×{settings['size']}×"
        f"{settings['size']} float input, full-resolution logits (what smp's model returns), constant folding, then "
        "onnx.checker (full). Not `edgeseg export`: that refuses smp's align_corners=True Resize (rule 4) and puts "
        "the argmax in the graph by default.",
        "",
        f"Measure (`smp_comparison.py measure`): onnxruntime {result['measure_versions']['onnxruntime']}, CPU "
        f"provider, FP32, {settings['threads']} threads, {settings['rounds']} rounds round-robin over the three "
        "files after one warm-up each (benchmarks/interleaved_latency.py), so other load falls on all alike; every "
        f"output checked to be 1×{settings['classes']}×{settings['size']}×{settings['size']}. "
        f"Commit {result['commit']}, {result['machine']}. Load average (1/5/15 min) at the start "
        f"{_load(result['load_average_start'])}, at the end {_load(result['load_average_end'])}.",
        "",
        "```",
        f"<smpenv>/bin/python benchmarks/smp_comparison.py export --work {settings['work']}",
        f".venv/bin/python benchmarks/smp_comparison.py measure --work {settings['work']} --rounds "
        f"{settings['rounds']} --threads {settings['threads']}",
        "```",
        "",
        "(the side venv's setup is in the script's docstring.)",
        "",
        "| model | params M | GFLOPs | p50 ms | min ms | p50 ÷ smp's | median per-round ratio | rounds faster |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['title']} | {r['params_m']:.2f} | {r['gflops']:.1f} | {r['p50_ms']:.1f} | {r['min_ms']:.1f} | "
            f"{r['p50_over_smp']:.2f}× | {r['per_round_ratio_to_smp_median']:.2f}× | "
            f"{r['rounds_faster_than_smp']}/{settings['rounds']} |"
        )
    lines += ["", *graph_table(result["graphs"]), "", "## Why smp is measured this way", "", WHY_NOT_A_DEPENDENCY]
    return lines


def graph_table(graphs: dict[str, dict[str, Any]]) -> list[str]:
    """The three ONNX graphs side by side: nodes, Conv FLOPs by kind and by output resolution, Resize modes."""
    kinds = sorted({k for g in graphs.values() for k in g["conv_gflops_by_kind"]})
    sizes = sorted(
        {s for g in graphs.values() for s in g["conv_gflops_by_output_size"]}, key=lambda s: -int(s.split("×")[0])
    )
    lines = [
        "## The graphs",
        "",
        "Read off each .onnx file (shape inference); Conv GFLOPs = 2 × multiply-adds. Output 256² is stride 2, "
        "128² stride 4 (the decoder), 32² stride 16 (the deepest features and ASPP).",
        "",
        f"| | {' | '.join(LABELS)} |",
        "| --- |" + " ---: |" * len(LABELS),
        f"| nodes | {' | '.join(str(graphs[label]['nodes']) for label in LABELS)} |",
    ]
    for kind in kinds:
        cells = [
            f"{graphs[x]['convs_by_kind'].get(kind, 0)} / {graphs[x]['conv_gflops_by_kind'].get(kind, 0):.2f}"
            for x in LABELS
        ]
        lines.append(f"| Conv {kind}: count / GFLOPs | {' | '.join(cells)} |")
    for size in sizes:
        cells = [f"{graphs[x]['conv_gflops_by_output_size'].get(size, 0):.2f}" for x in LABELS]
        lines.append(f"| Conv GFLOPs, output {size} | {' | '.join(cells)} |")
    resize = [", ".join(graphs[x]["resize"]) for x in LABELS]
    lines.append(f"| Resize mode/coordinates | {' | '.join(resize)} |")
    return lines


def main() -> None:
    args = parse_args()
    if args.step == "export":
        export_all(args.work)
        return
    result = measure(args.work, args.rounds, args.threads)
    save(args.result, result, markdown(result), paths={args.work: result["settings"]["work"]})


if __name__ == "__main__":
    main()
