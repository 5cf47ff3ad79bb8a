"""VOC-format segmentation datasets: VOCdevkit/VOC2007|VOC2012, SBD-augmented lists, and your own data.

Layout (the root is DATA itself, or DATA/VOC2012, DATA/VOC2007, DATA/VOCdevkit/VOC2012, ...):
    ImageSets/Segmentation/<split>.txt   one image id per line
    JPEGImages/<id>.jpg                  (.png / .jpeg also accepted) any size, gray / RGB / RGBA
    SegmentationClass/<id>.png           class indices: palette, single-channel, or VOC colours; 255 = ignore
    SegmentationClassAug/<id>.png        SBD labels, used first for splits whose name contains "aug"
    classes.txt                          optional, one class name per line (else the 21 VOC classes)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeseg.errors import EdgesegError, describe, require
from edgeseg.runtime.images import UnreadableImage, read_rgb
from edgeseg.runtime.media import IMAGE_SUFFIXES
from edgeseg.runtime.palette import VOC_CLASSES, voc_palette

IGNORE_INDEX = 255


class DataError(EdgesegError):
    """A dataset that cannot be used as it is."""


@dataclass(frozen=True)
class Sample:
    id: str
    image: Path
    label: Path


@dataclass(frozen=True)
class Split:
    root: Path
    name: str
    class_names: tuple[str, ...]
    samples: tuple[Sample, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def find_root(data: Path) -> Path:
    """The folder holding ImageSets/Segmentation: DATA itself or a VOC20xx folder below it."""
    for candidate in (
        data,
        data / "VOC2012",
        data / "VOC2007",
        data / "VOCdevkit" / "VOC2012",
        data / "VOCdevkit" / "VOC2007",
    ):
        if (candidate / "ImageSets" / "Segmentation").is_dir():
            return candidate
    if not data.exists():
        raise DataError(f"dataset not found: {data}")
    raise DataError(
        f"{data} is not a VOC-format dataset (no ImageSets/Segmentation in it or in VOC2012/VOC2007 below it); "
        f"see `edgeseg data synth --help` for the layout"
    )


def read_class_names(root: Path, data: Path | None = None) -> tuple[str, ...]:
    """classes.txt in the dataset root (or DATA), else PASCAL VOC's 21 classes."""
    for folder in (root, data):
        if folder is not None and (folder / "classes.txt").is_file():
            names = tuple(n.strip() for n in read_text_lines(folder / "classes.txt") if n.strip())
            if not 1 <= len(names) <= IGNORE_INDEX:
                raise DataError(f"{folder / 'classes.txt'} must list 1 to 255 class names, one per line")
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise DataError(
                    f"{folder / 'classes.txt'} names {', '.join(map(repr, repeated))} more than once; "
                    f"each line is one class index, so every name must be unique"
                )
            return names
    return VOC_CLASSES


def read_text_lines(path: Path) -> list[str]:
    """The lines of a split list or classes.txt, as Windows tools and Excel also write them.

    A UTF-8 byte-order mark (Notepad, Excel's "CSV UTF-8") is dropped, UTF-16 with its BOM (Excel's "Unicode
    text") is decoded, and CRLF or CR line ends split like LF: otherwise the mark would become part of the first
    id or class name, and a list that looks right would name a file that does not exist.
    """
    data = path.read_bytes()
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; save it as UTF-8 (with or without a BOM)") from None
    return text.splitlines()


def list_splits(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "ImageSets" / "Segmentation").glob("*.txt"))


def load_split(data: str | Path, split: str) -> Split:
    """Resolve a split's image and label files (they are not opened here; `check` and loading do that)."""
    data = Path(data)
    root = find_root(data)
    list_file = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not list_file.is_file():
        raise DataError(f"split {split!r} not found: no {list_file} (splits here: {', '.join(list_splits(root))})")
    ids = _read_ids(list_file, root)
    label_dirs = (
        ("SegmentationClassAug", "SegmentationClass")
        if "aug" in split
        else ("SegmentationClass", "SegmentationClassAug")
    )
    samples = tuple(Sample(i, _image_path(root, i), _label_path(root, i, label_dirs)) for i in ids)
    return Split(root, split, read_class_names(root, data), samples)


def _read_ids(list_file: Path, root: Path) -> list[str]:
    """The first word of each line (VOC lists hold one id a line; some add a second column).

    An id with a space in it is split there: say so, rather than later report the first word's image missing.
    """
    ids = []
    for number, line in enumerate(read_text_lines(list_file), start=1):
        words = line.split()
        if not words:
            continue
        if len(words) > 1 and not _image_path(root, words[0]).is_file():
            raise DataError(
                f"line {number} of {list_file} ({line.strip()!r}) was split at a space into the id {words[0]!r}, "
                f"for which there is no image; ids cannot contain spaces: rename the files and the line"
            )
        ids.append(words[0])
    return ids


def _image_path(root: Path, image_id: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        path = root / "JPEGImages" / f"{image_id}{suffix}"
        if path.is_file():
            return path
    return root / "JPEGImages" / f"{image_id}.jpg"


def _label_path(root: Path, image_id: str, folders: tuple[str, ...]) -> Path:
    for folder in folders:
        path = root / folder / f"{image_id}.png"
        if path.is_file():
            return path
    return root / folders[0] / f"{image_id}.png"


def read_image(path: Path) -> np.ndarray:
    """The image as RGB uint8 H×W×3, read by the one reader every command uses (`edgeseg.runtime.images`:
    16-bit scaled, alpha dropped, palette expanded, gray replicated, CMYK converted, EXIF orientation applied).

    A file it cannot read is a DataError: the reader's reason and remedy, or removing it from the list.
    """
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    try:
        return read_rgb(path)
    except UnreadableImage as exc:
        raise DataError(exc.or_else("remove it from the list")) from None


def read_label(path: Path, num_classes: int) -> np.ndarray:
    """A label PNG → uint8 H×W class indices (255 = ignore), checked against num_classes."""
    pil_image = require("PIL.Image", extra="train")
    if not path.is_file():
        raise DataError(f"label not found: {path}")
    try:
        with pil_image.open(path) as img:
            if img.mode in ("P", "L", "I", "I;16"):
                label = np.asarray(img)  # palette indices or plain class values
            else:
                label = _colours_to_indices(np.asarray(img.convert("RGB")), path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read label {path} ({describe(exc)}); fix or remove it from the list") from exc
    bad = np.unique(label[(label >= num_classes) & (label != IGNORE_INDEX)])
    if bad.size:
        raise DataError(
            f"label {path} has values {', '.join(map(str, bad[:5].tolist()))} but the dataset has {num_classes} "
            f"classes (0–{num_classes - 1}, 255 = ignore); fix the label or add the classes to classes.txt"
        )
    return label.astype(np.uint8)


def _colours_to_indices(rgb: np.ndarray, path: Path) -> np.ndarray:
    """A colour-coded label (VOC palette colours, white = ignore) → class indices."""
    palette = voc_palette(256).astype(np.int32)
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    lookup = {int((r << 16) | (g << 8) | b): i for i, (r, g, b) in enumerate(palette[:IGNORE_INDEX])}
    lookup[0xFFFFFF] = lookup[0xE0E0C0] = IGNORE_INDEX  # white, and VOC's border colour (224, 224, 192)
    values, inverse = np.unique(codes, return_inverse=True)
    unknown = [v for v in values.tolist() if v not in lookup]
    if unknown:
        raise DataError(
            f"label {path} is an RGB image with colours that are not VOC palette colours "
            f"(e.g. #{unknown[0]:06x}); save labels as palette or single-channel PNGs of class indices"
        )
    return np.array([lookup[v] for v in values.tolist()], dtype=np.uint8)[inverse].reshape(rgb.shape[:2])


def read_sample(sample: Sample, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample's RGB image and its label, which must have the same size."""
    image, label = read_image(sample.image), read_label(sample.label, num_classes)
    if image.shape[:2] != label.shape:
        raise DataError(
            f"{sample.id}: image {sample.image.name} is {image.shape[1]}×{image.shape[0]} but label "
            f"{sample.label.name} is {label.shape[1]}×{label.shape[0]}; they must be the same size"
        )
    return image, label
