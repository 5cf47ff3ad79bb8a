"""Figures of an explanation: one row per image (like the report's), and the layer sweep grid."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeseg.atomic import atomic_path
from edgeseg.errors import require

if TYPE_CHECKING:
    from matplotlib.figure import Figure

cv2 = require("cv2", extra="cv")


def heatmap_on(image: np.ndarray, cam: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """A [0, 1] map as a JET heatmap blended over an RGB image."""
    heat = cv2.applyColorMap(np.uint8(255 * np.clip(cam, 0, 1)), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(image, 1 - weight, heat, weight, 0)


def _pyplot():
    matplotlib = require("matplotlib", extra="train")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: Path) -> None:
    """Write a figure as a PNG, atomically, and free it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")
    _pyplot().close(fig)


def _cam_title(title: str, cam: np.ndarray) -> str:
    """A blank map is a finding, not a failure: this layer holds no evidence for the class (ReLU(Σ w·A) = 0)."""
    return title if np.any(cam > 0) else f"{title}\n(no positive evidence)"


def row_figure(
    image: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray,
    cam: np.ndarray,
    title: str,
    layer: str,
    method: str = "gradcam",
    alpha: float = 0.7,
) -> Figure:
    """original | predicted mask | overlay (image weight `alpha`) | the CAM of `layer` (its label) on the image.

    The heatmap's panel names the method and the layer: a CAM is only read right knowing where in the
    network it was taken."""
    plt = _pyplot()
    coloured = palette[mask]
    overlay = cv2.addWeighted(image, alpha, coloured, 1 - alpha, 0)
    panels = (
        ("image", image),
        ("prediction", coloured),
        ("overlay", overlay),
        (_cam_title(f"{method} at {layer}", cam), heatmap_on(image, cam)),
    )
    # As tall as the panels need: a fixed height leaves a band of white between the title and a wide image.
    fig, axes = plt.subplots(1, 4, figsize=(16, 4 * image.shape[0] / image.shape[1] + 0.9), layout="constrained")
    for ax, (name, panel) in zip(axes, panels):
        ax.imshow(panel)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(title)
    return fig


def save_sweep(path: Path, image: np.ndarray, cams: dict[str, np.ndarray], title: str) -> None:
    """A grid of every layer's CAM over the image, shallow to deep, each panel labelled with its layer."""
    plt = _pyplot()
    count = len(cams)
    cols = min(5, count)
    rows = math.ceil(count / cols)
    height = 3.2 * image.shape[0] / image.shape[1] + 0.45  # a panel and its title
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, height * rows + 0.5), squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for index, (ax, (name, cam)) in enumerate(zip(axes.ravel(), cams.items())):
        ax.imshow(heatmap_on(image, cam))
        ax.set_title(_cam_title(f"{index + 1}. {name}", cam), fontsize=10)
    fig.suptitle(title)
    save_figure(fig, path)
