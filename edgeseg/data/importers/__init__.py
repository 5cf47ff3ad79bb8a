"""`edgeseg data import`: the labels users already have, in the VOC layout `edgeseg train` reads.

One module per format reads it (coco, labelme, masks, cityscapes, ade20k), one writer (writer.py) writes every
format the same way and checks the result. What the formats share (the shape rule, EXIF, overlaps, classes,
splits, what counts as a problem) is in docs/training.md, "Train on your own labels".
"""

from __future__ import annotations

from pathlib import Path

from edgeseg.data.importers.common import OTHERS, choose_classes
from edgeseg.data.importers.writer import ImportSource, ImportSummary, write_dataset
from edgeseg.data.voc import DataError
from edgeseg.writable import check_writable

FORMATS = ("coco", "labelme", "masks", "cityscapes", "ade20k")
# Which format takes which option (an option another format would silently ignore is refused instead).
ONLY = {
    "train": ("coco",),
    "val": ("coco",),
    "images": ("coco", "masks"),
    "masks": ("masks", "coco"),
    "label_map": ("masks",),
    "line_width": ("labelme",),
}


def _open(fmt: str, source: Path, options: dict) -> ImportSource:
    if fmt == "coco":
        from edgeseg.data.importers.coco import CocoSource

        return CocoSource(source, **options)
    if fmt == "labelme":
        from edgeseg.data.importers.labelme import LabelmeSource

        return LabelmeSource(source, **options)
    if fmt == "masks":
        from edgeseg.data.importers.masks import MasksSource

        return MasksSource(source, **options)
    if fmt == "cityscapes":
        from edgeseg.data.importers.cityscapes import CityscapesSource

        return CityscapesSource(source, **options)
    from edgeseg.data.importers.ade20k import Ade20kSource

    return Ade20kSource(source, **options)


def check_out(source: Path, out: Path) -> None:
    """OUT must be new or empty, writable, and outside SOURCE (which an import never modifies)."""
    check_writable(out, "--out", folder=True)
    if out.is_dir() and any(out.iterdir()):
        raise DataError(f"--out {out} is not empty; pass a new or empty folder (an import never mixes datasets)")
    resolved, inside = out.resolve(), source.resolve()
    if resolved == inside or inside in resolved.parents:
        raise DataError(f"--out {out} is inside SOURCE {source}, which an import never modifies; write elsewhere")


def import_dataset(
    source: str | Path,
    fmt: str,
    out: str | Path,
    *,
    classes: list[str] | None = None,
    others: str = "background",
    val_share: float | None = None,
    seed: int = 0,
    workers: int = 1,
    strict: bool = False,
    **options,
) -> ImportSummary:
    """Import SOURCE in format `fmt` into OUT (VOC layout), check it, and say what was done.

    options: train, val (COCO annotation files), images (a folder), masks (a folder: mask PNGs, or COCO
    panoptic PNGs), label_map (a file),
    line_width (LabelMe lines, pixels); each applies to the formats in ONLY and is refused for the others.
    """
    source, out = Path(source), Path(out)
    if fmt not in FORMATS:
        raise DataError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not source.exists():
        raise DataError(f"SOURCE not found: {source}")
    if others not in OTHERS:
        raise DataError(f"--others must be one of {', '.join(OTHERS)}, got {others!r}")
    if val_share is not None and not 0 < val_share < 1:
        raise DataError(f"--val-share must be a fraction between 0 and 1, got {val_share}")
    if workers < 1:
        raise DataError(f"--workers must be a whole number ≥ 1, got {workers}")
    given = {key: value for key, value in options.items() if value is not None}
    for key in given:
        if fmt not in ONLY[key]:
            flag = "--" + key.replace("_", "-")
            raise DataError(f"{flag} applies to --format {' or '.join(ONLY[key])}, not {fmt}")
    check_out(source, out)
    if fmt in ("coco", "labelme", "masks"):
        given.update(seed=seed)
    opened = _open(fmt, source, {**given, "val_share": val_share})
    class_map = choose_classes(opened.native_names, classes, others, opened.native_palette)
    return write_dataset(opened, class_map, out, workers=workers, strict=strict)
