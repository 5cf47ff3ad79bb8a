"""Pointing game for Grad-CAM on a trained checkpoint: how much CAM mass falls inside the explained
class's ground-truth region, relative to the region's share of the image (1.0 = chance).

    python benchmarks/gradcam_pointing.py CHECKPOINT --data DATA [--images 20] [--name NAME]

First the layer `edgeseg explain` shows by default (the decoder's last) against the deepest encoder layer, as the
median and mean over (val image, foreground class present in the ground truth and predicted by the model); then
every encoder layer and that default × method (means); then per class at the deepest encoder layer, beside
occlusion: the same ratio for the fall of the explained score when one cell of that layer is zeroed
(all channels), an attribution with Grad-CAM's zero baseline but no gradients, so it tells a CAM that misses the
object from a layer whose activations there really do not raise the class score.
Writes benchmarks/results/gradcam_pointing_<NAME>.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from results_io import save, shown_path
from torch import nn

from edgeseg.data.voc import Split, load_split, read_sample
from edgeseg.explain.cam import METHODS, ClassAbsent, explain
from edgeseg.explain.layers import layers_to_explain
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.preprocess import NEAREST, fit, preprocess_for
from edgeseg.train.checkpoint import model_from_checkpoint
from edgeseg.train.config import load_yaml


def occlusion(model: nn.Module, image: torch.Tensor, k: int, target: torch.Tensor, layer: str) -> np.ndarray:
    """How much the explained score (class k's logits summed over `target`) falls when each cell of `layer`'s
    output is zeroed, ReLU'd and upsampled to the image as the CAMs are."""
    cell: list[tuple[int, int]] = []
    shape: list[torch.Size] = []

    def zero_cell(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        shape[:] = [output.shape]
        if not cell:
            return output
        output = output.clone()
        output[..., cell[0][0], cell[0][1]] = 0
        return output

    def score() -> float:
        return float((model(image)[0, k] * target).sum())

    handle = dict(model.named_modules())[layer].register_forward_hook(zero_cell)
    try:
        with torch.no_grad():
            base = score()
            height, width = shape[0][-2:]
            drop = torch.zeros(1, 1, height, width)
            for i in range(height):
                for j in range(width):
                    cell[:] = [(i, j)]
                    drop[0, 0, i, j] = base - score()
    finally:
        handle.remove()
    return F.interpolate(F.relu(drop), size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0].numpy()


def pointing(cam: np.ndarray, region: np.ndarray) -> float:
    """Share of the map's mass inside the region ÷ the region's share of the image."""
    return (cam[region].sum() / cam.sum() if cam.sum() > 0 else 0.0) / region.mean()


def training_record(checkpoint: Path) -> dict:
    """How the checkpoint was trained, from the args.yaml and results.csv `edgeseg train` leaves beside weights/."""
    run = checkpoint.parent.parent
    if not (run / "args.yaml").is_file() or not (run / "results.csv").is_file():
        return {}
    args = load_yaml(run / "args.yaml")
    record = {k: args[k] for k in ("model", "data", "size", "epochs", "batch_size", "lr", "seed")}
    record["data"] = shown_path(record["data"], "<data>")
    with (run / "results.csv").open() as f:
        record["best_val_mIoU"] = max((float(row["val_mIoU"]) for row in csv.DictReader(f)), default=None)
    return record


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 3) if values else None


def median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 3) if values else None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--name", default="model")
    return parser.parse_args()


@dataclass
class Cases:
    """One pointing ratio per (image, class) case, by method, layer label and class."""

    ratios: dict[str, dict[str, dict[str, list[float]]]]  # method → layer label → class → ratios
    occluded: dict[str, list[float]]  # class → occlusion ratios at the deepest encoder layer
    not_predicted: dict[str, int]  # class → cases in the ground truth that the model does not predict


def measure(model: nn.Module, meta: ModelMetadata, split: Split, layers: dict[str, str], images: int) -> Cases:
    """Every method's ratio at every layer, and occlusion at the deepest encoder layer (the one before the last)."""
    classes = list(meta.class_names)
    cases = Cases(
        ratios={m: {label: {c: [] for c in classes[1:]} for label in layers.values()} for m in METHODS},
        occluded={c: [] for c in classes[1:]},
        not_predicted={c: 0 for c in classes[1:]},
    )
    deepest = list(layers)[-2]
    for sample in split.samples[:images]:
        image, label = read_sample(sample, split.num_classes)
        tensor, placement = preprocess_for(image, meta)
        x = torch.from_numpy(tensor)
        region_map = fit(label, placement, 255, NEAREST)
        for k in range(1, split.num_classes):
            region = region_map == k
            if region.sum() < 20:
                continue
            for method in METHODS:
                try:
                    result = explain(model, x, k, list(layers), method)
                except ClassAbsent:
                    cases.not_predicted[classes[k]] += 1
                    break
                for name, cam in result.cams.items():
                    cases.ratios[method][layers[name]][classes[k]].append(pointing(cam.numpy(), region))
            else:
                drop = occlusion(model, x, k, result.target, deepest)
                cases.occluded[classes[k]].append(pointing(drop, region))
    return cases


def summarise(cases: Cases, layers: dict[str, str]) -> dict[str, Any]:
    """The default layer against the deepest encoder layer (median, mean), every layer's mean, per-class means."""
    *_, deepest, default = layers.values()

    def pooled(method: str, label: str) -> list[float]:
        return [r for per_class in cases.ratios[method][label].values() for r in per_class]

    headline = {
        m: {
            which: {"layer": label, "median": median(pooled(m, label)), "mean": mean(pooled(m, label))}
            for which, label in (("default", default), ("deepest_encoder", deepest))
        }
        for m in METHODS
    }
    headline["default_gradcam_median_per_class"] = {c: median(v) for c, v in cases.ratios["gradcam"][default].items()}
    per_class = {m: {c: mean(v) for c, v in cases.ratios[m][deepest].items()} for m in METHODS}
    per_class["occlusion"] = {c: mean(v) for c, v in cases.occluded.items()}
    return {
        "cases": {c: len(v) for c, v in cases.ratios["gradcam"][deepest].items()},
        "not_predicted": cases.not_predicted,
        "default_layer": default,
        "deepest_encoder_layer": deepest,
        "default_vs_deepest": headline,
        "ratio": {m: {label: mean(pooled(m, label)) for label in layers.values()} for m in METHODS},
        "ratio_per_class_at_deepest": per_class,
    }


def markdown(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    cases, not_predicted, trained = result["cases"], result["not_predicted"], result["trained"]
    lines = [
        f"# Grad-CAM pointing game: {args.name}",
        "",
        f"`{result['checkpoint']}` on the first {args.images} images of the val split of `{result['data']}`: "
        f"{sum(cases.values())} (image, class) cases, a class in the ground truth that the model also predicts "
        f"({sum(not_predicted.values())} more were in the ground truth but not predicted, so had nothing to explain). "
        "Each cell: share of CAM mass inside the class's ground-truth region ÷ the region's share of the image "
        "(1 = chance).",
        "",
    ]
    if trained:
        lines += [
            f"Trained by `edgeseg train` (its args.yaml): {trained['model']} on `{trained['data']}` at "
            f"{trained['size'][0]}×{trained['size'][1]}, {trained['epochs']} epochs, batch {trained['batch_size']}, "
            f"lr {trained['lr']}, seed {trained['seed']}; best val mIoU {fmt(trained['best_val_mIoU'])}.",
            "",
        ]
    return lines + _headline(result) + _tables(result)


def _headline(result: dict[str, Any]) -> list[str]:
    headline = result["default_vs_deepest"]
    default, deepest = result["default_layer"], result["deepest_encoder_layer"]
    per_class = ", ".join(f"{c} {fmt(v)}" for c, v in headline["default_gradcam_median_per_class"].items())
    lines = [
        f"`edgeseg explain`'s default layer, the {default}, against the deepest encoder layer ({deepest}), "
        f"the default before: median and mean over all cases. Grad-CAM's median at the default per class: {per_class}.",
        "",
        "| method | default: median | default: mean | deepest encoder: median | deepest encoder: mean |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for m in METHODS:
        new, old = headline[m]["default"], headline[m]["deepest_encoder"]
        lines.append(f"| {m} | {fmt(new['median'])} | {fmt(new['mean'])} | {fmt(old['median'])} | {fmt(old['mean'])} |")
    return [*lines, ""]


def _tables(result: dict[str, Any]) -> list[str]:
    table, per_class, cases = result["ratio"], result["ratio_per_class_at_deepest"], result["cases"]
    lines = ["Means, every encoder layer shallow to deep, then the default:", ""]
    lines += ["| layer | " + " | ".join(METHODS) + " |", "| --- |" + " ---: |" * len(METHODS)]
    for label in table[METHODS[0]]:
        lines.append(f"| {label} | " + " | ".join(fmt(table[m][label]) for m in METHODS) + " |")
    lines += ["", f"Per class at the deepest encoder layer, {result['deepest_encoder_layer']} (means):", ""]
    columns = [*METHODS, "occlusion"]
    lines += ["| class | cases | " + " | ".join(columns) + " |", "| --- | ---: |" + " ---: |" * len(columns)]
    for c in cases:
        lines.append(f"| {c} | {cases[c]} | " + " | ".join(fmt(per_class[m][c]) for m in columns) + " |")
    return lines


def main() -> None:
    args = parse_args()
    model, meta, _ = model_from_checkpoint(args.checkpoint)
    layers = layers_to_explain(model, sweep=True)  # the encoder shallow to deep, then the default layer
    cases = measure(model, meta, load_split(args.data, "val"), layers, args.images)
    result = {
        "checkpoint": shown_path(args.checkpoint, "<checkpoint>"),
        "trained": training_record(args.checkpoint),
        "data": shown_path(args.data, "<data>"),
        **summarise(cases, layers),
    }
    save(f"gradcam_pointing_{args.name}", result, markdown(result, args))


if __name__ == "__main__":
    main()
