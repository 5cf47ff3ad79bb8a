"""Source images for an import: read once, checked, given their EXIF orientation, written into JPEGImages.

The rule (docs/training.md, "Train on your own labels"): labels are drawn in the frame a person sees, with the
image's EXIF orientation applied, as LabelMe, CVAT, Label Studio and Roboflow show a phone photo. The image is
written with that orientation applied to its pixels (and no orientation tag), so OpenCV, Pillow and every
edgeseg command read it in the same frame as its label. Where an annotation states a size that matches only the
image as stored (a 90° orientation swaps width and height), the label is taken to be in the stored frame and
gets the same orientation as the image. Images that need no turning are copied byte for byte.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeseg.data.importers.common import Skip
from edgeseg.data.voc import DataError
from edgeseg.errors import describe, require
from edgeseg.runtime.media import IMAGE_SUFFIXES

ORIENTATION_TAG = 0x0112
JPEG_QUALITY = 95  # an image that has to be turned is encoded once more; 95 keeps the loss below the noise


def _transpose_methods() -> dict[int, int]:
    """EXIF orientation → the Pillow transpose that shows the image upright (as ImageOps.exif_transpose)."""
    image = require("PIL.Image", extra="train")
    t = image.Transpose
    return {
        2: t.FLIP_LEFT_RIGHT,
        3: t.ROTATE_180,
        4: t.FLIP_TOP_BOTTOM,
        5: t.TRANSPOSE,
        6: t.ROTATE_270,
        7: t.TRANSVERSE,
        8: t.ROTATE_90,
    }


@dataclass(frozen=True)
class SourceImage:
    """An image file's bytes, as stored, with what the import needs to know about it."""

    data: bytes
    suffix: str  # lower case, with the dot; what the file is written as when it is copied
    stored_size: tuple[int, int]  # (width, height) of the pixels as stored
    orientation: int  # EXIF orientation, 1 (upright) to 8

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as displayed, with the orientation applied."""
        w, h = self.stored_size
        return (h, w) if self.orientation in (5, 6, 7, 8) else (w, h)


def read_image_file(path: Path, name: str) -> SourceImage:
    """The image at `path`; a missing or unreadable one skips its item. `name` is what messages call it."""
    if not path.is_file():
        raise Skip("missing image", f"{name}: image not found")
    return load_image(path.read_bytes(), path.suffix.lower(), name)


def load_image(data: bytes, suffix: str, name: str) -> SourceImage:
    """Decode `data` once, completely (a truncated file fails here, not in training), and read its orientation."""
    pil_image = require("PIL.Image", extra="train")
    try:
        with pil_image.open(io.BytesIO(data)) as img:
            img.load()
            orientation = img.getexif().get(ORIENTATION_TAG, 1)
            size = img.size
            kind = (img.format or "").lower()
    except pil_image.UnidentifiedImageError:
        raise Skip("unreadable image", f"{name}: cannot read it as an image (not a format Pillow knows)") from None
    except Exception as exc:
        raise Skip("unreadable image", f"{name}: cannot read it as an image ({describe(exc)})") from None
    if suffix not in IMAGE_SUFFIXES:  # embedded data, or a file OpenCV would not read: named by its format
        suffix = {"jpeg": ".jpg", "mpo": ".jpg"}.get(kind, f".{kind}" if f".{kind}" in IMAGE_SUFFIXES else "")
    return SourceImage(data, suffix, size, orientation if orientation in range(1, 9) else 1)


def declared_frame(declared: tuple[int, int] | None, image: SourceImage, what: str) -> bool:
    """Whether an annotation that states `declared` (width, height) is in the stored frame (True) or the
    displayed one (False); a size that matches neither is an error naming `what`."""
    if declared is None or declared == image.size:
        return False
    if declared == image.stored_size:
        return True
    raise DataError(
        f"{what} is {declared[0]}×{declared[1]} but its image is {image.size[0]}×{image.size[1]}; "
        f"the label and the image must be the same size: export them together again"
    )


def orient(label: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a label drawn on the stored pixels the way the image's orientation turns the image (the same
    transposes as Pillow's, in numpy, so a uint16 label turns as a uint8 one does)."""
    turns = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.T,
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.T[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(turns[orientation](label))


def write_image(image: SourceImage, folder: Path, image_id: str) -> Path:
    """Write the image upright into `folder` as `<id><suffix>`: copied when it needs no turning, else re-encoded
    (JPEG at quality 95, anything else as PNG) without its orientation tag."""
    if image.orientation == 1 and image.suffix:
        path = folder / f"{image_id}{image.suffix}"
        path.write_bytes(image.data)
        return path
    pil_image = require("PIL.Image", extra="train")
    with pil_image.open(io.BytesIO(image.data)) as img:
        upright = img.transpose(_transpose_methods()[image.orientation]) if image.orientation != 1 else img.copy()
        if image.suffix in (".jpg", ".jpeg"):
            path = folder / f"{image_id}.jpg"
            upright.convert("L" if upright.mode == "L" else "RGB").save(path, quality=JPEG_QUALITY)
        else:
            path = folder / f"{image_id}.png"
            upright.save(path)
    return path


def read_index_label(label_path: Path, image: SourceImage, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A label PNG of ids (8-bit gray or palette indices, as Cityscapes and ADE20K store them): the ids as stored,
    and the ids mapped through `lut` in the image's frame. An unreadable file is a Skip."""
    pil_image = require("PIL.Image", extra="train")
    try:
        with pil_image.open(label_path) as img:
            ids = np.asarray(img.convert("L") if img.mode not in ("L", "P") else img)
    except Exception as exc:
        raise Skip("malformed file", f"cannot read label {label_path} ({describe(exc)})") from None
    stored = declared_frame((ids.shape[1], ids.shape[0]), image, f"label {label_path}")
    return ids, orient(lut[ids], image.orientation) if stored else lut[ids]
