"""Pointing game for Grad-CAM on a trained checkpoint: how much CAM mass falls inside the explained
class's ground-truth region, relative to the region's share of the image (1.0 = chance).

    python benchmarks/gradcam_pointing.py CHECKPOINT --data DATA [--images 20] [--name NAME]

For every encoder layer (then the decoder's last activation, for reference) × method, averaged over (val image,
foreground class present and predicted).
Writes benchmarks/results/gradcam_pointing_<NAME>.{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from results_io import save

from edgeseg.data.voc import load_split, read_sample
from edgeseg.explain.cam import METHODS, ClassAbsent, encoder_layers, explain, last_decoder_layer
from edgeseg.runtime.preprocess import NEAREST, fit, preprocess_for
from edgeseg.train.checkpoint import model_from_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--name", default="model")
    args = parser.parse_args()
    model, metadata, _ = model_from_checkpoint(args.checkpoint)
    meta = metadata.to_dict()
    decoder = last_decoder_layer(model)
    layers = {**encoder_layers(model), decoder: f"decoder ({decoder})"}  # the encoder, then for reference the decoder
    split = load_split(args.data, "val")
    scores = {m: {name: [] for name in layers} for m in METHODS}
    for sample in split.samples[: args.images]:
        image, label = read_sample(sample, split.num_classes)
        tensor, placement = preprocess_for(image, meta)
        region_map = fit(label, placement, 255, NEAREST)
        for k in range(1, split.num_classes):
            region = region_map == k
            if region.sum() < 20:
                continue
            for method in METHODS:
                try:
                    result = explain(model, torch.from_numpy(tensor), k, list(layers), method)
                except ClassAbsent:
                    break
                for name, cam in result.cams.items():
                    cam = cam.numpy()
                    share = cam[region].sum() / cam.sum() if cam.sum() > 0 else 0.0
                    scores[method][name].append(share / region.mean())
    table = {
        m: {layers[n]: round(float(np.mean(v)), 3) if v else None for n, v in per.items()} for m, per in scores.items()
    }
    count = len(next(iter(scores["gradcam"].values())))
    result = {"checkpoint": str(args.checkpoint), "data": str(args.data), "cases": count, "ratio": table}
    lines = [
        f"# Grad-CAM pointing game: {args.name}",
        "",
        f"`{args.checkpoint}` on the val split of `{args.data}`, {count} (image, class) cases. Each cell: share "
        "of CAM mass inside the class's ground-truth region ÷ the region's share of the image (1 = chance).",
        "",
        "| layer | " + " | ".join(METHODS) + " |",
        "| --- |" + " ---: |" * len(METHODS),
    ]
    for label in layers.values():
        lines.append(f"| {label} | " + " | ".join(f"{table[m][label]:.2f}" for m in METHODS) + " |")
    save(f"gradcam_pointing_{args.name}", result, lines)


if __name__ == "__main__":
    main()
