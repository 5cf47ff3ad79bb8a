"""The one writer behind every importer: items in, the exact VOC layout `edgeseg train` reads out, checked.

    OUT/JPEGImages/<id>.<jpg|png|…>          the image, upright (images.py)
    OUT/SegmentationClass/<id>.png           palette PNG of class indices, 255 = ignore
    OUT/ImageSets/Segmentation/{train,val}.txt
    OUT/classes.txt                          one name a line, line 1 = class 0
    OUT/import.json                          what was imported, skipped and why

Items stream through one process or a pool of them (each converts and writes its own files and sends back only
counts), so no more than one image per process is in memory. Everything is written into a hidden folder beside
OUT that becomes OUT only after `edgeseg data check`'s own check passes on it: an import that fails or is
interrupted leaves nothing behind, and SOURCE is only ever read.
"""

from __future__ import annotations

import json
import sys
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.atomic import staged_folder
from edgeseg.data.check import CheckReport, check_dataset
from edgeseg.data.importers.common import ClassMap, Converted, Item, Skip, Tally, split_by_share
from edgeseg.data.importers.images import write_image
from edgeseg.data.voc import DataError
from edgeseg.errors import require
from edgeseg.runtime.palette import voc_palette

SPLITS = ("train", "val")


class ImportSource(ABC):
    """What a format gives the writer. Subclasses set the attributes in __init__ (in the main process, where
    problems with the whole source are errors) and convert one item in `convert` (in a worker)."""

    format: str = ""
    native_names: tuple[str, ...] = ()
    native_palette: np.ndarray | None = None
    description: str = ""  # one line: what is read from where
    listing_problems: Tally  # found while listing the items (e.g. a mask with no image)
    # Items listed without a split (split None) are split among the images actually imported, so that an image
    # skipped for a problem never leaves a split empty: val_share of them to val, by a shuffle seeded with seed.
    val_share: float = 0.2
    seed: int = 0
    remarks: list[str] = []  # noqa: RUF012 -- read only; a source that has remarks sets its own list

    @abstractmethod
    def items(self) -> list[Item]:
        """Every image of the source with what its labels are, listed in the main process."""

    @abstractmethod
    def convert(self, item: Item) -> Converted:
        """One item's image and class-index mask (in a worker)."""


@dataclass
class ItemResult:
    id: str
    split: str | None
    skipped: Tally = field(default_factory=Tally)
    problems: Tally = field(default_factory=Tally)
    notes: Tally = field(default_factory=Tally)
    unknown_colours: Counter = field(default_factory=Counter)


@dataclass
class ImportSummary:
    """What an import did: counted per split and per kind of problem, and the check of what it wrote."""

    out: Path
    format: str
    description: str
    class_names: tuple[str, ...]
    imported: dict[str, int] = field(default_factory=dict)
    skipped: Tally = field(default_factory=Tally)  # whole images left out
    problems: Tally = field(default_factory=Tally)  # shapes not drawn or painted 255
    notes: Tally = field(default_factory=Tally)
    unknown_colours: Counter = field(default_factory=Counter)  # colour → pixels
    colour_images: Counter = field(default_factory=Counter)  # colour → images it is in
    colour_first: dict[str, str] = field(default_factory=dict)  # colour → first file it is in
    remarks: list[str] = field(default_factory=list)  # what the user should know about the source
    check: CheckReport | None = None

    def add(self, result: ItemResult) -> None:
        if result.skipped:
            self.skipped.update(result.skipped)
            return
        self.problems.update(result.problems)
        self.notes.update(result.notes)
        for colour, pixels in result.unknown_colours.items():
            self.unknown_colours[colour] += pixels
            self.colour_images[colour] += 1
            self.colour_first.setdefault(colour, result.problems.first.get("unknown colour", result.id))

    def to_dict(self) -> dict[str, Any]:
        def tally(t: Tally) -> dict[str, Any]:
            return {kind: {"count": n, "first": t.first[kind]} for kind, n in t.counts.items()}

        return {
            "format": self.format,
            "source": self.description,
            "classes": list(self.class_names),
            "remarks": self.remarks,
            "images": self.imported,
            "skipped": tally(self.skipped),
            "problems": tally(self.problems),
            "notes": tally(self.notes),
            "unknown_colours": {
                colour: {"pixels": pixels, "images": self.colour_images[colour], "first": self.colour_first[colour]}
                for colour, pixels in self.unknown_colours.most_common(100)
            },
        }


# The worker's state, set once per process (pickled to each worker by the pool's initializer).
_STATE: dict[str, Any] = {}


def _init(source: ImportSource, classes: ClassMap, folder: Path, palette: list[int]) -> None:
    _STATE.update(source=source, classes=classes, folder=folder, palette=palette)


def _work(job: tuple[Item, tuple[str, str] | None]) -> ItemResult:
    item, skip = job
    result = ItemResult(item.id, item.split)
    try:
        if skip is not None:
            raise Skip(*skip)
        converted = _STATE["source"].convert(item)
    except Skip as exc:
        result.skipped.add(exc.kind, exc.message)
        return result
    folder: Path = _STATE["folder"]
    write_image(converted.image, folder / "JPEGImages", item.id)
    _write_label(folder / "SegmentationClass" / f"{item.id}.png", _STATE["classes"].apply(converted.label))
    result.problems, result.notes, result.unknown_colours = (
        converted.problems,
        converted.notes,
        converted.unknown_colours,
    )
    return result


def _write_label(path: Path, label: np.ndarray) -> None:
    pil_image = require("PIL.Image", extra="train")
    img = pil_image.fromarray(label, mode="P")
    img.putpalette(_STATE["palette"])
    img.save(path)


def _deduplicate(items: list[Item]) -> Iterator[tuple[Item, tuple[str, str] | None]]:
    """Two images that would get the same id: the first is kept, the later ones are skipped and counted."""
    seen: dict[str, str] = {}
    for item in items:
        if item.id in seen:
            message = f"{item.name}: its name gives the id {item.id!r}, as {seen[item.id]} does; the first is kept"
            yield item, ("duplicate name", message)
        else:
            seen[item.id] = item.name
            yield item, None


def _palette(classes: ClassMap) -> list[int]:
    palette = voc_palette(256).astype(np.uint8)
    if classes.palette is not None:
        palette[: len(classes.palette)] = classes.palette
    return palette.flatten().tolist()


def _stop_if_strict(strict: bool, *tallies: Tally) -> None:
    if not strict:
        return
    for tally in tallies:
        for message in tally.first.values():
            raise DataError(f"{message} (--strict stops at the first problem; without it, it is counted and skipped)")


def write_dataset(
    source: ImportSource, classes: ClassMap, out: Path, *, workers: int = 1, strict: bool = False
) -> ImportSummary:
    """Convert every item of `source` into OUT, check the result as `edgeseg data check` does, and say what
    happened. Raises DataError (and leaves nothing) when nothing could be imported, a split came out empty,
    --strict met a problem, or the check failed."""
    tqdm = require("tqdm", extra="train").tqdm
    summary = ImportSummary(out, source.format, source.description, classes.names, remarks=list(source.remarks))
    summary.skipped.update(source.listing_problems)
    _stop_if_strict(strict, source.listing_problems)
    items = source.items()
    if not items:
        raise DataError(f"found no image to import in {source.description}")
    lists: dict[str | None, list[str]] = {split: [] for split in (*SPLITS, None)}
    with staged_folder(out) as folder:
        for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
            (folder / sub).mkdir(parents=True)
        args = (source, classes, folder, _palette(classes))
        jobs = _deduplicate(items)
        # A progress bar on a terminal only (disable=None), as training's.
        bar = tqdm(total=len(items), desc="import", unit="image", disable=None, file=sys.stderr, leave=False)
        with bar, closing(_results(jobs, args, workers)) as results:  # closed at once if the loop stops early
            for result in results:
                _stop_if_strict(strict, result.skipped, result.problems)
                summary.add(result)
                if not result.skipped:
                    lists[result.split].append(result.id)
                bar.update()
        _split_the_rest(lists, source)
        _require_images(summary, lists, source)
        for split, ids in lists.items():
            (folder / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        (folder / "classes.txt").write_text("".join(f"{name}\n" for name in classes.names))
        summary.imported = {split: len(lists[split]) for split in SPLITS}
        (folder / "import.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
        summary.check = _check(folder, out)
    summary.check.root = out
    return summary


def _results(jobs: Iterator[tuple[Item, tuple[str, str] | None]], args: tuple, workers: int) -> Iterator[ItemResult]:
    """Each job's result, in order: converted in this process, or in a pool of `workers` processes."""
    if workers == 1:
        _init(*args)
        try:
            yield from map(_work, jobs)
        finally:
            _STATE.clear()
        return
    # A pool that notices a worker dying (killed for memory): it raises instead of waiting forever.
    with ProcessPoolExecutor(workers, initializer=_init, initargs=args) as pool:
        try:
            yield from pool.map(_work, jobs, chunksize=4)
        except BrokenProcessPool:
            raise DataError("a worker process died (out of memory?); run again with fewer --workers") from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # stopped early (an error, --strict): convert no more


def _split_the_rest(lists: dict[str | None, list[str]], source: ImportSource) -> None:
    """The imported images that came without a split, split by the source's val_share and seed."""
    unsplit = lists.pop(None)
    if unsplit:
        val = split_by_share(unsplit, source.val_share, source.seed)
        lists["train"] += [i for i in unsplit if i not in val]
        lists["val"] += [i for i in unsplit if i in val]


def _require_images(summary: ImportSummary, lists: dict[str, list[str]], source: ImportSource) -> None:
    skipped = sum(summary.skipped.counts.values())
    first = next(iter(summary.skipped.first.values()), "")
    if not any(lists.values()):
        raise DataError(f"no image could be imported from {source.description}: all {skipped} skipped (first: {first})")
    for split, ids in lists.items():
        if not ids:
            because = f"{skipped} image(s) skipped, first: {first}" if skipped else "the source lists none for it"
            raise DataError(f"the {split} split came out empty ({because})")


def _check(folder: Path, out: Path) -> CheckReport:
    """`edgeseg data check` on what was written: a failure here is a problem the import did not catch."""
    report = check_dataset(folder)
    if not report.ok:
        raise DataError(f"the imported dataset fails its check: {report.errors[0]}".replace(str(folder), str(out)))
    return report
