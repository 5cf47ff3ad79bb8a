"""What every importer shares: the unit of work, what can go wrong with it, class choice and splits."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.data.voc import IGNORE_INDEX, DataError

# Native labels (a format's own class indices, before --classes) are uint16, so a source may have more than 255
# classes (LVIS has 1203) as long as --classes picks at most 255 of them.
NATIVE_IGNORE = 0xFFFF
BACKGROUND = "background"
OTHERS = ("background", "ignore")

# Problems with the input: counted and reported, the item or shape left out (or painted 255), and with --strict
# the first one is an error. Each is named here once, so the report and the tests use the same words.
PROBLEMS = {
    "missing image": "image not found",
    "unreadable image": "image that cannot be read",
    "missing mask": "image without a mask",
    "duplicate name": "image whose name another image already has",
    "orphan annotation": "annotation of an image id its file does not list",
    "malformed file": "annotation file that cannot be read",
    "degenerate shape": "shape with fewer than 3 points or invalid coordinates, not drawn",
    "outside": "shape entirely outside its image, not drawn",
    "unknown category": "annotation of an unknown category id, painted 255 (ignored)",
    "unknown label": "shape with a label not in the class list, painted 255 (ignored)",
    "unknown shape type": "shape of an unknown type, not drawn",
    "unknown colour": "mask colour or value in no label map, painted 255 (ignored)",
    "bad segmentation": "annotation whose segmentation cannot be decoded, not drawn",
}
# What the import does on purpose, counted so that the user sees it; never an error.
NOTES = {
    "crowd": "crowd regions painted 255 (ignored)",
    "box only": "annotations with a box but no segmentation, their box painted 255 (ignored)",
    "point": "points ignored (a point marks no area)",
}


class Skip(Exception):
    """This item cannot be imported; the rest can (counted and reported; an error with --strict)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)  # both in args: a Skip raised in a worker is pickled back whole
        self.kind, self.message = kind, message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Item:
    """One image to import: small and picklable, so that worker processes receive it."""

    id: str  # the output id: <id>.jpg in JPEGImages, <id>.png in SegmentationClass
    split: str | None  # train or val (None while the source has yet to split by --val-share)
    name: str  # the source file that messages name
    payload: Any = None  # what the format's convert() needs


@dataclass
class Tally:
    """Counts of problems or notes by kind, with the first message of each kind."""

    counts: Counter = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, message: str, count: int = 1) -> None:
        self.counts[kind] += count
        self.first.setdefault(kind, message)

    def update(self, other: Tally) -> None:
        for kind, count in other.counts.items():
            self.add(kind, other.first[kind], count)

    def __bool__(self) -> bool:
        return bool(self.counts)


@dataclass
class Converted:
    """An item made ready to write: its image and its label in native classes, in the displayed frame."""

    image: Any  # images.SourceImage
    label: np.ndarray  # uint16 H×W native class indices, NATIVE_IGNORE = ignore
    problems: Tally = field(default_factory=Tally)
    notes: Tally = field(default_factory=Tally)
    unknown_colours: Counter = field(default_factory=Counter)  # "#rrggbb" or "value 7" → pixels


def safe_id(name: str) -> str:
    """A VOC id from a file name: letters, digits, '.', '-' and '_' kept, anything else (spaces, '/') → '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "_"


def relative_id(path: Path, root: Path) -> str:
    """The id of a file found under `root`: its path below root without the suffix (a/b/x.json → a_b_x)."""
    relative = path.relative_to(root).with_suffix("")
    return safe_id("_".join(relative.parts))


def split_by_share(keys: Sequence[str], val_share: float, seed: int) -> set[str]:
    """The keys that go to val: a seeded shuffle of the sorted keys, so the same files and seed give the same
    split whatever order the file system lists them in."""
    ordered = sorted(set(keys))
    if len(ordered) < 2:
        raise DataError(f"found {len(ordered)} image(s); a train and a val split need at least 2")
    count = min(len(ordered) - 1, max(1, round(len(ordered) * val_share)))
    order = np.random.default_rng(seed).permutation(len(ordered))
    return {ordered[i] for i in order[:count]}


@dataclass(frozen=True)
class ClassMap:
    """The dataset's classes and how a source's native classes map onto them."""

    names: tuple[str, ...]
    lut: np.ndarray  # uint8[65536]: native index → class index (255 = ignore)
    palette: np.ndarray | None = None  # len(names)×3 colours, where the source has them

    def apply(self, native: np.ndarray) -> np.ndarray:
        return self.lut[native]


def choose_classes(
    native: Sequence[str],
    chosen: Sequence[str] | None = None,
    others: str = BACKGROUND,
    palette: np.ndarray | None = None,
) -> ClassMap:
    """Keep `chosen` (all of `native` when None) in the order given; pixels of the classes left out become the
    class `background` (others="background"; added as class 0 when not chosen) or 255 (others="ignore")."""
    if others not in OTHERS:
        raise DataError(f"--others must be one of {', '.join(OTHERS)}, got {others!r}")
    repeated = sorted({n for n in native if list(native).count(n) > 1})
    if repeated:
        raise DataError(
            f"the source names the class {repeated[0]!r} more than once; each class needs a unique name: "
            f"rename one in your labelling tool and export again"
        )
    index = {name: i for i, name in enumerate(native)}
    lut = np.full(NATIVE_IGNORE + 1, IGNORE_INDEX, np.uint8)
    if chosen is None:
        if len(native) > IGNORE_INDEX:
            raise DataError(
                f"the source has {len(native)} classes but a dataset holds at most 255; pick them with --classes"
            )
        lut[: len(native)] = np.arange(len(native))
        colours = palette[: len(native)] if palette is not None else None
        return ClassMap(tuple(native), lut, colours)
    unknown = [n for n in chosen if n not in index and n != BACKGROUND]
    if unknown:
        available = ", ".join(native[:30]) + (", …" if len(native) > 30 else "")
        names = ", ".join(map(repr, unknown))
        raise DataError(f"--classes names {names}, which the source does not have (it has {available})")
    duplicate = sorted({n for n in chosen if list(chosen).count(n) > 1})
    if duplicate:
        raise DataError(f"--classes names {duplicate[0]!r} more than once")
    names = list(chosen)
    if others == BACKGROUND and BACKGROUND not in names:
        names.insert(0, BACKGROUND)
    if len(names) > IGNORE_INDEX:
        raise DataError(f"--classes picks {len(names)} classes but a dataset holds at most 255")
    if others == BACKGROUND:
        lut[: len(native)] = names.index(BACKGROUND)
    for out_index, name in enumerate(names):
        if name in index:
            lut[index[name]] = out_index
    colours = None
    if palette is not None:
        colours = np.array([palette[index[n]] if n in index else (0, 0, 0) for n in names], np.uint8)
    return ClassMap(tuple(names), lut, colours)


def parse_classes(text: str | None) -> list[str] | None:
    """--classes "a,b,c" → ["a", "b", "c"] (spaces around names dropped)."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise DataError("--classes must list at least one class name, separated by commas")
    return names
