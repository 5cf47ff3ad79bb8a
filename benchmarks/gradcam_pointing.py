"""Pointing game for Grad-CAM on a trained checkpoint: how much CAM mass falls inside the explained
class's ground-truth region, relative to the region's share of the image (1.0 = chance).

    python benchmarks/gradcam_pointing.py CHECKPOINT --data DATA [--images 20] [--name NAME]

For every encoder layer (then the decoder's last activation, for reference) × method, averaged over (val image,
foreground class present in the ground truth and predicted by the model), then per class at the deepest encoder
layer, beside occlusion: the same ratio for the fall of the explained score when one cell of that layer is zeroed
(all channels), an attribution with Grad-CAM's zero baseline but no gradients, so it tells a CAM that misses the
object from a layer whose activations there really do not raise the class score.
Writes benchmarks/results/gradcam_pointing_<NAME>.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from results_io import save
from torch import nn

from edgeseg.data.voc import load_split, read_sample
from edgeseg.explain.cam import METHODS, ClassAbsent, encoder_layers, explain, last_decoder_layer
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
    with (run / "results.csv").open() as f:
        record["best_val_mIoU"] = max((float(row["val_mIoU"]) for row in csv.DictReader(f)), default=None)
    return record


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--name", default="model")
    args = parser.parse_args()
    model, meta, _ = model_from_checkpoint(args.checkpoint)
    classes = meta.class_names
    decoder = last_decoder_layer(model)
    layers = {**encoder_layers(model), decoder: f"decoder ({decoder})"}  # the encoder, then for reference the decoder
    deepest_name, deepest = list(layers.items())[-2]
    split = load_split(args.data, "val")
    # ratios[method][layer label][class name]: one ratio per (image, class) case
    ratios = {m: {label: {c: [] for c in classes[1:]} for label in layers.values()} for m in METHODS}
    occluded = {c: [] for c in classes[1:]}
    not_predicted = {c: 0 for c in classes[1:]}
    for sample in split.samples[: args.images]:
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
                    not_predicted[classes[k]] += 1
                    break
                for name, cam in result.cams.items():
                    ratios[method][layers[name]][classes[k]].append(pointing(cam.numpy(), region))
            else:
                drop = occlusion(model, x, k, result.target, deepest_name)
                occluded[classes[k]].append(pointing(drop, region))

    def mean(values: list[float]) -> float | None:
        return round(float(np.mean(values)), 3) if values else None

    table = {
        m: {label: mean([r for v in per.values() for r in v]) for label, per in by_layer.items()}
        for m, by_layer in ratios.items()
    }
    per_class = {m: {c: mean(v) for c, v in ratios[m][deepest].items()} for m in METHODS}
    per_class["occlusion"] = {c: mean(v) for c, v in occluded.items()}
    cases = {c: len(v) for c, v in ratios["gradcam"][deepest].items()}
    trained = training_record(args.checkpoint)
    result = {
        "checkpoint": str(args.checkpoint),
        "trained": trained,
        "data": str(args.data),
        "cases": cases,
        "not_predicted": not_predicted,
        "ratio": table,
        "deepest_encoder_layer": deepest,
        "ratio_per_class_at_deepest": per_class,
    }
    lines = [
        f"# Grad-CAM pointing game: {args.name}",
        "",
        f"`{args.checkpoint}` on the first {args.images} images of the val split of `{args.data}`: "
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
    lines += [
        "| layer | " + " | ".join(METHODS) + " |",
        "| --- |" + " ---: |" * len(METHODS),
    ]
    for label in layers.values():
        lines.append(f"| {label} | " + " | ".join(fmt(table[m][label]) for m in METHODS) + " |")
    lines += ["", f"Per class at the deepest encoder layer, {deepest}:", ""]
    columns = [*METHODS, "occlusion"]
    lines += ["| class | cases | " + " | ".join(columns) + " |", "| --- | ---: |" + " ---: |" * len(columns)]
    for c in classes[1:]:
        lines.append(f"| {c} | {cases[c]} | " + " | ".join(fmt(per_class[m][c]) for m in columns) + " |")
    save(f"gradcam_pointing_{args.name}", result, lines)


if __name__ == "__main__":
    main()
