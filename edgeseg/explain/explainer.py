"""`edgeseg explain`: pre-process each image as deployed, explain, map back to the image, save the figures."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeseg.atomic import atomic_path
from edgeseg.errors import EdgesegError, require
from edgeseg.explain.cam import ClassAbsent, Explanation, check_method, explain
from edgeseg.explain.figures import row_figure, save_figure, save_sweep
from edgeseg.explain.layers import layers_to_explain
from edgeseg.runtime.images import UnreadableImage, read_rgb
from edgeseg.runtime.media import UniqueNames, images_in
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


@dataclass
class ExplainRequest:
    """What `edgeseg explain` is asked: which images, which class, which layer, and where to write."""

    checkpoint: Path
    images: Path
    class_name: str
    layer: str | None = None  # default: the decoder's last layer (edgeseg.explain.layers)
    sweep: bool = False
    method: str = "gradcam"
    mask_from: Path | None = None
    out: Path = Path("runs/explain")
    overwrite: bool = False  # replace files an earlier run left in `out` under the names this one writes


@dataclass
class ExplainSummary:
    explained: list[ImageExplanation] = field(default_factory=list)
    absent: list[Path] = field(default_factory=list)  # the class is not in the prediction: nothing to explain
    unreadable: list[str] = field(default_factory=list)  # file names skipped in a folder


def output_names(base: str, request: ExplainRequest) -> list[str]:
    """The files explaining one image writes, named after `base` (its input's whole file name, see
    `edgeseg.runtime.media.UniqueNames`): photo.bmp → photo.bmp_circle_gradcam.png and .npy (+ the sweep's)."""
    stem = f"{base}_{request.class_name}_{request.method}"
    return [f"{stem}.png", f"{stem}.npy", *([f"{stem}_sweep.png", f"{stem}_sweep.npz"] if request.sweep else [])]


def check_outputs_free(request: ExplainRequest, bases: list[str]) -> None:
    """Before anything is explained: refuse to replace an earlier run's files unless --force says so.

    A user's files are never overwritten by default (docs/architecture.md, rule 6). Refused rather than
    renamed: the names stay what the naming rule says, so a script finds photo.bmp_circle_gradcam.npy where
    it expects it, and a second run cannot leave two explanations of one image side by side, one of them stale.
    """
    if request.overwrite or not request.out.is_dir():
        return
    clashes = [name for base in bases for name in output_names(base, request) if (request.out / name).exists()]
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise EdgesegError(
            f"--out {request.out} already holds {clashes[0]}{more} from an earlier run; "
            f"pass --force to replace them, or another --out"
        )


def explain_file(
    model: torch.nn.Module,
    meta: ModelMetadata,
    path: Path,
    request: ExplainRequest,
    layers: dict[str, str],
    deployed: Any = None,
    base: str | None = None,
) -> ImageExplanation:
    """Explain the request's class in one image at `layers` (module name → label, see `layers_to_explain`).

    The row figure and the .npy show the last of `layers`; with --sweep, a grid and an .npz show them all.
    `deployed`: a Segmenter whose mask is explained instead of the model's own. `base`: what the files are
    named after (default: the image's file name; `explain_images` hands out unique ones).
    """
    class_name, method, out = request.class_name, request.method, request.out
    class_index = meta.class_names.index(class_name)
    image = read_rgb(path)  # the reader every command uses (edgeseg.runtime.images)
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
    files = [out / name for name in output_names(base or path.name, request)]
    out.mkdir(parents=True, exist_ok=True)
    shown = list(layers)[-1]
    title = f"{path.name}: {class_name}"
    save_figure(row_figure(image, mask, palette, cams[shown], title, layers[shown], method), files[0])
    with atomic_path(files[1]) as tmp, open(tmp, "wb") as handle:  # a handle: np.save would add .npy to tmp
        np.save(handle, cams[shown].astype(np.float32))
    if request.sweep:
        labelled = {layers[name]: cam for name, cam in cams.items()}
        title += f", {method}; the encoder shallow → deep, then the row figure's layer"
        save_sweep(files[2], image, labelled, title)
        with atomic_path(files[3]) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **{k.replace(".", "_"): v.astype(np.float16) for k, v in cams.items()})
    return ImageExplanation(path, files, deployed_iou, cams)


def explain_images(
    model: torch.nn.Module,
    meta: ModelMetadata,
    request: ExplainRequest,
    log: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> ExplainSummary:
    """Explain every image of `request` (one file or a folder), saying what it wrote for each as it goes.

    An unreadable file in a folder is skipped and counted, as `edgeseg run` does; an image whose prediction
    lacks the class is reported. Nothing explained at all is an error. Each image's files are named after its
    whole file name, made unique within the run (`UniqueNames`), and files of an earlier run are not replaced
    unless the request says to overwrite (checked before the first image is explained).
    """
    check_method(request.method)
    pick_class(meta, request.class_name)
    paths = image_paths(request.images)
    names = UniqueNames()
    bases = [names.claim(path.name) for path in paths]
    check_outputs_free(request, bases)
    layers = layers_to_explain(model, request.layer, request.sweep)
    summary = ExplainSummary()
    with ExitStack() as stack:
        deployed = _deployed(request, meta, stack) if request.mask_from is not None else None
        for path, base in zip(paths, bases):
            try:
                result = explain_file(model, meta, path, request, layers, deployed, base)
            except UnreadableImage as exc:
                if not request.images.is_dir():
                    raise
                summary.unreadable.append(path.name)
                warn(f"warning: skipped {path.name}: {exc}")
                continue
            except ClassAbsent:
                summary.absent.append(path)
                source = f"{request.mask_from.name}'s" if request.mask_from else "the model's"
                log(f"{path.name}: no {request.class_name!r} in {source} prediction, nothing to explain")
                continue
            summary.explained.append(result)
            log(_written(result, request))
    _report(summary, request, paths, log)
    return summary


def _written(result: ImageExplanation, request: ExplainRequest) -> str:
    iou = (
        f"; IoU of {request.class_name} between PyTorch and {request.mask_from.name}: {result.deployed_iou:.4f}"
        if request.mask_from
        else ""
    )
    return f"{result.image.name}: {', '.join(f.name for f in result.files)}{iou}"


def _report(summary: ExplainSummary, request: ExplainRequest, paths: list[Path], log: Callable[[str], None]) -> None:
    unreadable = summary.unreadable
    skipped = f"; skipped {len(unreadable)} unreadable file(s): {', '.join(unreadable)}" if unreadable else ""
    if not summary.explained:
        if len(unreadable) == len(paths):
            raise EdgesegError(f"no image in {request.images} could be read{skipped}")
        raise EdgesegError(f"{request.class_name!r} is absent from every prediction: nothing explained{skipped}")
    log(f"wrote {len(summary.explained)} explanation(s) to {request.out}{skipped}")


def _deployed(request: ExplainRequest, meta: ModelMetadata, stack: ExitStack) -> Any:
    """A Segmenter over the --mask-from model, checked to be an export of the checkpoint being explained."""
    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.segmenter import Segmenter

    backend = open_model(request.mask_from)
    deployed_meta = backend.metadata
    stack.enter_context(backend)
    if deployed_meta.class_names != meta.class_names or deployed_meta.input_size != meta.input_size:
        raise EdgesegError(
            f"{request.mask_from} was not exported from {request.checkpoint} (classes or input size differ)"
        )
    return Segmenter(backend)


def image_paths(images: Path) -> list[Path]:
    """The image, or the images of a folder (by suffix), sorted; neither is an error."""
    if not images.exists():
        raise EdgesegError(f"not found: {images}")
    paths = images_in(images) if images.is_dir() else [images]
    if not paths:
        raise EdgesegError(f"no images in {images}")
    return paths


def pick_class(meta: ModelMetadata, name: str) -> str:
    """`name` if the model has that class, else the user's error naming the classes it has."""
    if name not in meta.class_names:
        raise EdgesegError(f"--class {name!r} is not one of the model's classes: {', '.join(meta.class_names)}")
    return name
