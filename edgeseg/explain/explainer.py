"""`edgeseg explain` for one image: pre-process as deployed, explain, map back to the image, save."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeseg.errors import EdgesegError, require
from edgeseg.explain.cam import Explanation, explain
from edgeseg.explain.figures import save_row, save_sweep
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.preprocess import Placement, postprocess, preprocess_for

cv2 = require("cv2", extra="cv")


def as_seen(placement: Placement) -> Placement:
    """The placement with the image at the size the network saw it (inside its input, padding excluded).

    Maps and masks are stored at that size, not the original's: a 10000×10000 photo explained at a
    512×512 input holds no more detail than 512×512, and at its own size its CAM alone would be 400 MB.
    """
    return replace(placement, image_size=(placement.height, placement.width))


def to_image_space(array: np.ndarray, placement: Placement) -> np.ndarray:
    """A float map over the network input → placement.image_size (letterbox padding cropped)."""
    top, left = placement.top, placement.left
    cropped = array[top : top + placement.height, left : left + placement.width]
    height, width = placement.image_size
    return cv2.resize(cropped, (width, height), interpolation=cv2.INTER_LINEAR)


@dataclass
class ImageExplanation:
    image: Path
    files: list[Path]
    deployed_iou: float | None  # IoU of the class between the PyTorch and the deployed mask
    cams: dict[str, np.ndarray]  # layer → map at the size the network saw the image (see as_seen)


def explain_file(
    model: torch.nn.Module,
    meta: ModelMetadata,
    path: Path,
    class_name: str,
    layers: list[str],
    *,
    method: str,
    sweep: bool,
    out: Path,
    deployed: Any = None,
) -> ImageExplanation:
    from edgeseg.data.voc import read_image

    class_index = meta.class_names.index(class_name)
    image = read_image(path)
    tensor, placement = preprocess_for(image, meta)
    target = deployed_iou = None
    if deployed is not None:
        deployed_classes = deployed.class_map(deployed.infer(tensor))
        target = torch.from_numpy(deployed_classes == class_index)
    result: Explanation = explain(model, torch.from_numpy(tensor), class_index, list(layers), method, target)
    own = (result.logits.argmax(1)[0] == class_index).numpy()
    if deployed is not None:
        union = np.logical_or(own, target.numpy()).sum()
        deployed_iou = float(np.logical_and(own, target.numpy()).sum() / union) if union else 1.0
    seen = as_seen(placement)
    mask = postprocess(result.logits[0].numpy(), seen)
    cams = {name: to_image_space(cam.numpy(), seen) for name, cam in result.cams.items()}
    image = cv2.resize(image, (seen.width, seen.height), interpolation=cv2.INTER_AREA)
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(meta.palette)] = np.asarray(meta.palette, np.uint8)
    stem = f"{path.stem}_{class_name}_{method}"
    out.mkdir(parents=True, exist_ok=True)
    files = []
    deepest = list(layers)[-1]
    title = f"{path.name}: {class_name}, {method} at {layers[deepest]}"
    save_row(out / f"{stem}.png", image, mask, palette, cams[deepest], title)
    np.save(out / f"{stem}.npy", cams[deepest].astype(np.float32))
    files += [out / f"{stem}.png", out / f"{stem}.npy"]
    if sweep:
        labelled = {layers[name]: cam for name, cam in cams.items()}
        save_sweep(out / f"{stem}_sweep.png", image, labelled, f"{path.name}: {class_name}, {method}, shallow → deep")
        np.savez_compressed(
            out / f"{stem}_sweep.npz", **{k.replace(".", "_"): v.astype(np.float16) for k, v in cams.items()}
        )
        files += [out / f"{stem}_sweep.png", out / f"{stem}_sweep.npz"]
    return ImageExplanation(path, files, deployed_iou, cams)


def pick_class(meta: ModelMetadata, name: str) -> str:
    if name not in meta.class_names:
        raise EdgesegError(f"--class {name!r} is not one of the model's classes: {', '.join(meta.class_names)}")
    return name
