"""Image files in the forms cameras, phones and editors write, made with real encoders, each with the pixels
edgeseg's reading rule (docs/architecture.md, "Reading images") says it holds.

The expected pixels come from the arrays the files were made from, or from a decoder other than the reader's
own path (PIL; OpenCV told to ignore the orientation, then turned by numpy): never from `read_image` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

HEIGHT, WIDTH = 24, 32  # one side the pixel probe's input size, so it sees every pixel unscaled


@dataclass(frozen=True)
class Form:
    path: Path
    expected: np.ndarray  # BGR uint8 H×W×3
    tolerance: int = 0  # levels: only where two decoders' colour conversions may round differently (CMYK)


def sixteen_to_eight(values: np.ndarray) -> np.ndarray:
    """The rule for 16-bit samples, written out independently: value / 257, rounded to the nearest level."""
    return np.floor(values.astype(np.float64) / 257 + 0.5).astype(np.uint8)


def _pil_bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[..., ::-1])


def write_forms(folder: Path, seed: int = 0) -> dict[str, Form]:
    """One file per form in `folder` (unique stems, so they also make a VOC dataset's ids), by name."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bgr = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    # Full-range 16-bit samples, and every value around a rounding boundary of the rule (k·257 ± 128.5).
    deep = rng.integers(0, 65536, (HEIGHT, WIDTH, 3), dtype=np.uint16)
    deep.reshape(-1)[:512] = np.repeat(np.arange(256) * 257 + 128, 2)[:512] + np.tile([0, 1], 256)
    forms: dict[str, Form] = {}

    def opencv(name: str, array: np.ndarray, expected: np.ndarray, *params: int) -> None:
        path = folder / name
        assert cv2.imwrite(str(path), array, list(params)), name
        forms[name] = Form(path, expected)

    opencv("png8.png", bgr, bgr)
    opencv("bmp8.bmp", bgr, bgr)
    opencv("webp8.webp", bgr, bgr, cv2.IMWRITE_WEBP_QUALITY, 101)  # lossless
    opencv("gray8.png", bgr[..., 1], np.dstack([bgr[..., 1]] * 3))
    opencv("bgra8.png", np.dstack([bgr, alpha]), bgr)  # alpha dropped, nothing composited
    opencv("png16_rgb.png", deep, sixteen_to_eight(deep))
    opencv("png16_gray.png", deep[..., 0], np.dstack([sixteen_to_eight(deep[..., 0])] * 3))
    opencv("png16_bgra.png", np.dstack([deep, deep[..., 0]]), sixteen_to_eight(deep))
    opencv("tif16_rgb.tif", deep, sixteen_to_eight(deep))
    opencv("tif16_gray.tif", deep[..., 2], np.dstack([sixteen_to_eight(deep[..., 2])] * 3))

    rgb = Image.fromarray(bgr[..., ::-1].copy())
    palette = rgb.quantize(colors=16)
    palette.save(folder / "palette.png")
    forms["palette.png"] = Form(folder / "palette.png", _pil_bgr(palette))
    transparent = rgb.quantize(colors=16)
    transparent.info["transparency"] = 3  # palette entry 3 is see-through: tRNS, as GIF-converted PNGs have
    transparent.save(folder / "palette_alpha.png", transparency=3)
    forms["palette_alpha.png"] = Form(folder / "palette_alpha.png", _pil_bgr(transparent))
    Image.fromarray(bgr[..., 0]).convert("LA").save(folder / "gray_alpha.png")
    forms["gray_alpha.png"] = Form(folder / "gray_alpha.png", np.dstack([bgr[..., 0]] * 3))

    rgb.convert("CMYK").save(folder / "cmyk.jpg", quality=95)  # what print workflows and some scanners write
    forms["cmyk.jpg"] = Form(folder / "cmyk.jpg", _pil_bgr(Image.open(folder / "cmyk.jpg")), tolerance=1)

    # A phone held upright: the sensor's landscape pixels, and EXIF orientation 6 (turn 90° clockwise to show).
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(bgr[:, :, ::-1].transpose(1, 0, 2).copy()).save(folder / "exif6.jpg", exif=exif, quality=95)
    stored = cv2.imread(str(folder / "exif6.jpg"), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    forms["exif6.jpg"] = Form(folder / "exif6.jpg", np.ascontiguousarray(np.rot90(stored, k=-1)))
    return forms


def write_oriented(path: Path, orientation: int, seed: int = 0) -> np.ndarray:
    """A JPEG with EXIF `orientation` (1–8); returns what it shows, as PIL's exif_transpose turns it (BGR)."""
    rng = np.random.default_rng(seed)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(path, exif=exif, quality=95)
    with Image.open(path) as stored:
        return _pil_bgr(ImageOps.exif_transpose(stored))
