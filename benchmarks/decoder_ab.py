"""Accuracy A/B of decoders: each variant trained with the same seed, data and budget; val scores beside cost.

    python benchmarks/decoder_ab.py [--variants unet_classic:transposed,unet_vgg16:bilinear,...]
        [--images 300] [--size 64] [--epochs 8] [--batch-size 8] [--lr 3e-4] [--work runs/decoder_ab]
        [--result decoder_ab] [--parallel]

A variant may name DeepLabV3+'s head too, model:upsample:separable or model:upsample:dense (the head A/B:
`--variants deeplabv3plus_mobilenetv2:bilinear:separable,deeplabv3plus_mobilenetv2:bilinear:dense
--result head_ab`).

The U-Net report's table 3 (classic U-Net 53.02 vs improved U-Net 57.55 mIoU on PASCAL VOC) reproduced on
data we can ship: `edgeseg data synth`, then `edgeseg train` and `edgeseg eval` per variant, each in its own
process. Parameters come from the model zoo; CPU latency at 512×512 from the committed bench run
(benchmarks/results/bench_cpu_512/results.json) where it holds the variant. Writes
benchmarks/results/decoder_ab.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from results_io import RESULTS, git_commit, machine, save, shown_path

EDGESEG = [sys.executable, "-m", "edgeseg"]
DEFAULT_VARIANTS = "unet_classic:transposed,unet_classic:bilinear,unet_vgg16:transposed,unet_vgg16:bilinear"


def run(*args: str) -> None:
    print("+ edgeseg " + " ".join(args), flush=True)
    subprocess.run([*EDGESEG, *args], check=True, stdout=subprocess.DEVNULL)


def start(*args: str) -> subprocess.Popen:
    print("+ edgeseg " + " ".join(args) + " &", flush=True)
    return subprocess.Popen([*EDGESEG, *args], stdout=subprocess.DEVNULL)


def bench_latency() -> dict[tuple[str, str, str], float]:
    path = RESULTS / "bench_cpu_512" / "results.json"
    if not path.is_file():
        return {}
    rows = json.loads(path.read_text())["rows"]
    return {(r["model"], r["upsample"], r["backend"]): r["p50_ms"] for r in rows if "error" not in r}


def markdown(result: dict) -> list[str]:
    settings, rows = result["settings"], result["rows"]
    lines = [
        "# Decoder A/B: same seed, data and budget",
        "",
        f"`edgeseg data synth` ({settings['images']} images, {settings['size']} px, 4 classes), then per variant "
        f"`edgeseg train --size {settings['size']} --epochs {settings['epochs']} --batch-size {settings['batch_size']} "
        f"--lr {settings['lr']} --seed {settings['seed']}` (no pretrained weights) and `edgeseg eval` of its best.pt "
        f"on the val split; commit {result['commit']}, {result['machine']}. Latency: p50 at 512×512, 2 threads, "
        "from `bench_cpu_512/report.md`.",
        "",
        "| model | decoder | head | mIoU | mPA | mPrecision | pixel acc. | params M | GFLOPs @512 | PyTorch ms "
        "| ORT ms | train s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def ms(value):
        return "—" if value is None else f"{value:.0f}"

    for r in rows:
        lines.append(
            f"| {r['model']} | {r['upsample']} | {r.get('head') or '—'} | {r['mIoU']:.4f} | {r['mPA']:.4f} "
            f"| {r['mPrecision']:.4f} | {r['pixel_accuracy']:.4f} | {r['params_m']:.2f} | {r['gflops_512']:.1f} "
            f"| {ms(r['torch_p50_ms_512'])} | {ms(r['ort_p50_ms_512'])} | {r['train_seconds']:.0f} |"
        )
    if any(r.get("head") for r in rows):
        return lines
    return [
        *lines,
        "",
        "The report's table 3 for comparison (PASCAL VOC, 512×512, its own training): classic U-Net mIoU 53.02, "
        "mPA 66.05, mPrecision 73.85; improved U-Net (VGG16, bilinear) 57.55, 69.94, 75.61.",
    ]


def train_all(args: argparse.Namespace, data: Path, variants: list[list[str]], names: list[str]) -> dict[str, float]:
    """Train every variant, one after the other or (--parallel) all at once; wall seconds per variant."""
    started, seconds, running = {}, {}, {}
    for (model, upsample, *head), name in zip(variants, names):
        command = (
            *("train", "--model", model, "--upsample", upsample, "--data", str(data), "--size", str(args.size)),
            *("--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr)),
            *("--seed", str(args.seed), "--project", str(args.work), "--name", name, "--exist-ok"),
            *([f"--{head[0]}"] if head else []),
        )
        started[name] = time.perf_counter()
        if args.parallel:
            running[name] = start(*command)
        else:
            run(*command)
            seconds[name] = round(time.perf_counter() - started[name], 1)
    for name, process in running.items():
        if process.wait():
            raise SystemExit(f"training {name} failed with exit status {process.returncode}")
        seconds[name] = round(time.perf_counter() - started[name], 1)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="model:upsample pairs, comma-separated")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("runs/decoder_ab"))
    parser.add_argument("--result", default="decoder_ab", help="name of the JSON + Markdown in benchmarks/results")
    parser.add_argument("--parallel", action="store_true", help="train all variants at once (wall times overlap)")
    args = parser.parse_args()

    data = args.work / "data"
    if not (data / "VOCdevkit").is_dir():
        run("data", "synth", str(data), "--images", str(args.images), "--size", str(args.size), "--seed", "0")
    from edgeseg.models.complexity import describe_model

    latency = bench_latency()
    variants = [v.split(":") for v in args.variants.split(",")]
    names = ["_".join(v) for v in variants]
    seconds = train_all(args, data, variants, names)
    rows = []
    for (model, upsample, *head), name in zip(variants, names):
        metrics_path = args.work / name / "val_metrics.json"
        run("eval", str(args.work / name / "weights" / "best.pt"), "--data", str(data), "--json", str(metrics_path))
        metrics = json.loads(metrics_path.read_text())
        head_kwargs = {"separable": head[0] == "separable"} if head else {}
        info = describe_model(model, upsample=upsample, height=512, width=512, **head_kwargs)
        rows.append(
            {
                "model": model,
                "upsample": upsample,
                "head": head[0] if head else None,
                **{k: metrics[k] for k in ("mIoU", "mPA", "mRecall", "mPrecision", "pixel_accuracy")},
                "params_m": info["params_m"],
                "gflops_512": info["gflops"],
                # The committed bench run predates the head axis: its latencies belong to no head variant.
                "torch_p50_ms_512": None if head else latency.get((model, upsample, "torch")),
                "ort_p50_ms_512": None if head else latency.get((model, upsample, "ort")),
                "train_seconds": seconds[name],
            }
        )
    commit = git_commit()
    settings = vars(args) | {"work": shown_path(args.work, "<work>")}
    result = {"settings": settings, "commit": commit, "machine": machine(), "rows": rows}
    save(args.result, result, markdown(result))


if __name__ == "__main__":
    main()
