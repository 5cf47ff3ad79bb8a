"""A synthetic dataset in exact VOC layout: the built-in data for the quickstart and the tests.

Each image has a textured background and several overlapping shapes; class k (k ≥ 1) is one shape
kind in one hue family, so a small network can learn it in minutes on a CPU, while textures, noise,
overlaps, scale and aspect ratio keep it from being trivial. Labels are palette PNGs with VOC's
255 "ignore" band around every object boundary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeseg.data.voc import IGNORE_INDEX, DataError
from edgeseg.errors import require
from edgeseg.runtime.media import check_writable_video, partial_path
from edgeseg.runtime.palette import voc_palette

cv2 = require("cv2", extra="cv")

SHAPES = ("circle", "rectangle", "triangle", "ellipse", "star", "diamond")
# What tells a shape's class. colour: its hue (a small network learns it from the first layers alone).
# shape: only its form, every fill a random hue. outline: only the hue of a thin rim, the fill random, so
# a pixel inside a shape needs context from the rim, as a pixel inside a real object needs context from
# the object: only deep layers see far enough.
CUES = ("colour", "shape", "outline")


def class_names(num_classes: int) -> list[str]:
    """background, circle, rectangle, ... (with a suffix once the shape kinds repeat)."""
    names = ["background"]
    for k in range(1, num_classes):
        kind, lap = SHAPES[(k - 1) % len(SHAPES)], (k - 1) // len(SHAPES)
        names.append(kind if lap == 0 else f"{kind}{lap + 1}")
    return names


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Low-saturation noise over a colour gradient, with a few faint lines."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(60, 190, 3)
    slope = rng.uniform(-40, 40, (2, 3))
    image = base + yy[..., None] / height * slope[0] + xx[..., None] / width * slope[1]
    noise = cv2.GaussianBlur(rng.normal(0, 18, (height, width, 1)).astype(np.float32), (0, 0), 1.5)
    image = image + noise[..., None].reshape(height, width, 1)
    for _ in range(rng.integers(2, 6)):
        p1, p2 = rng.integers(0, [width, height], 2), rng.integers(0, [width, height], 2)
        cv2.line(image, tuple(map(int, p1)), tuple(map(int, p2)), tuple(rng.uniform(40, 220, 3).tolist()), 1)
    return image


def _shape_mask(kind: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    side = min(height, width)
    radius = int(rng.uniform(0.10, 0.28) * side)
    cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
    angle = rng.uniform(0, 2 * np.pi)
    if kind == "circle":
        cv2.circle(mask, (cx, cy), radius, 1, -1)
    elif kind == "ellipse":
        cv2.ellipse(mask, (cx, cy), (radius, max(2, radius // 2)), np.degrees(angle), 0, 360, 1, -1)
    elif kind == "rectangle":
        box = cv2.boxPoints(((cx, cy), (2 * radius, 1.4 * radius), np.degrees(angle)))
        cv2.fillPoly(mask, [box.astype(np.int32)], 1)
    else:
        corners = {"triangle": 3, "diamond": 4, "star": 10}[kind]
        t = angle + np.arange(corners) * 2 * np.pi / corners
        r = np.where(np.arange(corners) % 2, radius * 0.45, radius) if kind == "star" else np.full(corners, radius)
        if kind == "diamond":
            r = r * np.array([1.0, 0.6, 1.0, 0.6])
        points = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)
        cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    return mask.astype(bool)


def _check_cue(cue: str) -> None:
    if cue not in CUES:
        raise DataError(f"--cue must be one of {', '.join(CUES)}, got {cue!r}")


def _colour(rng: np.random.Generator, hue: float) -> np.ndarray:
    hsv = np.uint8([[[hue, rng.uniform(150, 255), rng.uniform(120, 255)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def synth_image(
    rng: np.random.Generator,
    height: int,
    width: int,
    num_classes: int,
    cue: str = "colour",
    paint: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One RGB uint8 image and its uint8 label (0 = background, 255 = boundary band).

    cue: what tells a shape's class (see CUES). paint: a second generator for what only the shape and
    outline cues draw; given one, the same `rng` gives the same layout and labels whatever the cue.
    """
    paint = paint if paint is not None else rng
    _check_cue(cue)
    image = _background(rng, height, width)
    label = np.zeros((height, width), np.uint8)
    hues = np.linspace(0, 180, num_classes, endpoint=False)  # OpenCV hue range is 0–180
    ring = max(2, min(height, width) // 32)  # the outline cue's width
    for _ in range(rng.integers(2, 6)):
        k = int(rng.integers(1, num_classes))
        mask = _shape_mask(SHAPES[(k - 1) % len(SHAPES)], rng, height, width)
        if not mask.any():
            continue
        class_hue = (hues[k] + rng.uniform(-6, 6)) % 180
        fill = _colour(rng, class_hue if cue == "colour" else paint.uniform(0, 180))
        stripes = 12 * np.sin(np.arange(width) / rng.uniform(2, 6))[None, :, None]
        image = np.where(mask[..., None], fill + stripes + rng.normal(0, 8, image.shape), image)
        if cue == "outline":
            inner = cv2.erode(mask.astype(np.uint8), np.ones((2 * ring + 1,) * 2, np.uint8)).astype(bool)
            image = np.where((mask & ~inner)[..., None], _colour(paint, class_hue), image)
        label[mask] = k
    band = max(1, min(height, width) // 80)
    edges = cv2.morphologyEx(label, cv2.MORPH_GRADIENT, np.ones((2 * band + 1,) * 2, np.uint8)) > 0
    label[edges] = IGNORE_INDEX
    return np.clip(image, 0, 255).astype(np.uint8), label


def write_label_png(path: Path, label: np.ndarray) -> None:
    """A palette PNG of class indices, coloured with the VOC palette, as VOC stores its labels."""
    pil_image = require("PIL.Image", extra="train")
    img = pil_image.fromarray(label, mode="P")
    img.putpalette(voc_palette(256).flatten().tolist())
    img.save(path)


def synth_dataset(
    out: str | Path,
    *,
    images: int = 200,
    size: int = 128,
    num_classes: int = 4,
    seed: int = 0,
    val_fraction: float = 0.2,
    cue: str = "colour",
    force: bool = False,
) -> Path:
    """Write a synthetic VOC-format dataset to OUT/VOCdevkit/VOC2012 and return that folder.

    A non-empty OUT is refused unless `force`: its split lists and classes.txt would be replaced and the new
    images mixed among its own."""
    if images < 2:
        raise DataError(f"--images must be at least 2 (one train, one val), got {images}")
    if not 2 <= num_classes <= IGNORE_INDEX:
        raise DataError(f"--classes must be between 2 and 255 (background included), got {num_classes}")
    if size < 16:
        raise DataError(f"--size must be at least 16 pixels, got {size}")
    _check_cue(cue)
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DataError(
            f"{out} is not empty: data synth would replace its split lists and classes.txt and mix its images "
            f"with new ones; pass an empty or new folder, or --force to write into it anyway"
        )
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} is a file, not a folder; pass a new folder to write the dataset into")
    root = out / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng, paint = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    ids = [f"synth_{i:05d}" for i in range(images)]
    for image_id in ids:
        # VOC-like: the long side is `size`, the other side varies, so letterboxing is exercised.
        long_side, short_side = size, int(rng.integers(int(size * 0.7), size + 1))
        height, width = (long_side, short_side) if rng.random() < 0.3 else (short_side, long_side)
        image, label = synth_image(rng, height, width, num_classes, cue, paint)
        cv2.imwrite(
            str(root / "JPEGImages" / f"{image_id}.jpg"),
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 92],
        )
        write_label_png(root / "SegmentationClass" / f"{image_id}.png", label)
    num_val = max(1, round(images * val_fraction))
    lists = {"train": ids[num_val:], "val": ids[:num_val], "trainval": ids}
    for split, split_ids in lists.items():
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(split_ids) + "\n")
    (root / "classes.txt").write_text("\n".join(class_names(num_classes)) + "\n")
    return root


def synth_video(
    out: str | Path, *, frames: int = 90, width: int = 640, height: int = 480, num_classes: int = 4, seed: int = 0
) -> Path:
    """A video of a synthetic scene panned across by the camera: something to point `edgeseg run` at.

    One scene twice the frame width is drawn once; each frame is a window sliding across it, so shapes
    move smoothly, as they would past a camera. .mp4/.mov are written with mp4v, anything else with MJPG.
    """
    out = Path(out)
    if frames < 1:
        raise DataError(f"--frames must be at least 1, got {frames}")
    if min(width, height) < 16:
        raise DataError(f"the video must be at least 16×16 pixels, got {width}×{height}")
    fourcc = cv2.VideoWriter_fourcc(*check_writable_video(out, "data video"))
    if not 2 <= num_classes <= IGNORE_INDEX:
        raise DataError(f"--classes must be between 2 and 255 (background included), got {num_classes}")
    out.parent.mkdir(parents=True, exist_ok=True)
    scene, _ = synth_image(np.random.default_rng(seed), height, 2 * width, num_classes)
    scene = cv2.cvtColor(scene, cv2.COLOR_RGB2BGR)
    partial = partial_path(out)
    writer = cv2.VideoWriter(str(partial), fourcc, 30, (width, height))
    if not writer.isOpened():
        raise DataError(f"OpenCV cannot write {out.suffix} video here; name the file .avi instead")
    try:
        for index in range(frames):
            left = round(index * width / max(frames - 1, 1))
            writer.write(np.ascontiguousarray(scene[:, left : left + width]))
        writer.release()
        partial.replace(out)
    finally:
        writer.release()
        partial.unlink(missing_ok=True)
    return out
