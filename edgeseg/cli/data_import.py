"""`edgeseg data import`: COCO, LabelMe, mask PNGs, Cityscapes or ADE20K → the VOC layout `edgeseg train` reads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console

from edgeseg.cli.data import print_check
from edgeseg.errors import require
from edgeseg.schema import Field, check_options, one_of

if TYPE_CHECKING:
    from edgeseg.data.importers.writer import ImportSummary

FORMATS = ("coco", "labelme", "masks", "cityscapes", "ade20k")  # edgeseg.data.importers.FORMATS (needs OpenCV)
OPTIONS = {
    "format": one_of(FORMATS),
    "others": one_of(("background", "ignore")),
    "val_share": Field("float", low=0, high=1, low_open=True),
    "seed": Field("int", low=0),
    "workers": Field("int", low=1),
    "line_width": Field("float", low=0, low_open=True),
}
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)


def import_command(
    source: Path = typer.Argument(..., help="What to import: a folder, or a COCO JSON file (never modified)."),
    format: str = typer.Option(..., "--format", help=f"The source's format: {', '.join(FORMATS)}."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write (new or empty), VOC layout."),
    classes: Optional[str] = typer.Option(
        None, help="Classes to keep, in this order, separated by commas [default: all, in the source's order]."
    ),
    others: str = typer.Option(
        "background", help="What pixels of the classes --classes leaves out become: background or ignore (255)."
    ),
    train: Optional[Path] = typer.Option(None, help="coco: the annotation file of the train split."),
    val: Optional[Path] = typer.Option(None, help="coco: the annotation file of the val split."),
    images: Optional[Path] = typer.Option(None, help="coco, masks: the folder of images [default: looked for]."),
    masks: Optional[Path] = typer.Option(
        None, help="masks: the folder of mask PNGs; coco: of panoptic PNGs [default: looked for]."
    ),
    label_map: Optional[Path] = typer.Option(
        None, help="masks: CVAT labelmap.txt, Roboflow _classes.csv, or one class name per pixel value."
    ),
    line_width: Optional[float] = typer.Option(None, help="labelme: width of lines in pixels [default: 3]."),
    val_share: Optional[float] = typer.Option(
        None, help="Share of images for val where the source has no splits [default: 0.2]."
    ),
    seed: int = typer.Option(0, help="Seed of the --val-share split: the same seed, the same split."),
    workers: int = typer.Option(
        DEFAULT_WORKERS, help="Processes converting images (1: this one).", show_default="the CPU cores, at most 8"
    ),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first problem instead of counting it."),
) -> None:
    """Import labels from COCO, LabelMe, CVAT / Label Studio / Roboflow masks, Cityscapes or ADE20K, then check."""
    check_options(
        OPTIONS, format=format, others=others, val_share=val_share, seed=seed, workers=workers, line_width=line_width
    )
    require("PIL", extra="train")
    from edgeseg.data.importers import import_dataset
    from edgeseg.data.importers.common import parse_classes

    chosen = parse_classes(classes)
    typer.echo(f"importing {format} from {source} into {out} ({workers} process{'es' if workers > 1 else ''})")
    summary = import_dataset(
        source,
        format,
        out,
        classes=chosen,
        others=others,
        val_share=val_share,
        seed=seed,
        workers=workers,
        strict=strict,
        train=train,
        val=val,
        images=images,
        masks=masks,
        label_map=label_map,
        line_width=line_width,
    )
    report(summary)


def report(summary: ImportSummary) -> None:
    """What was imported, what was left out and why (stderr, as warnings), then the check of the result."""
    from edgeseg.data.importers.common import NOTES, PROBLEMS

    splits = ", ".join(f"{split} {count}" for split, count in summary.imported.items())
    typer.echo(f"imported {sum(summary.imported.values())} images ({splits}) into {summary.out}")
    for kind, count in summary.skipped.counts.items():
        typer.echo(f"warning: skipped {count} × {PROBLEMS[kind]} (first: {summary.skipped.first[kind]})", err=True)
    for kind, count in summary.problems.counts.items():
        if kind != "unknown colour":
            typer.echo(f"warning: {count} × {PROBLEMS[kind]} (first: {summary.problems.first[kind]})", err=True)
    if summary.unknown_colours:
        typer.echo(
            f"warning: {len(summary.unknown_colours)} colour(s) or value(s) in no label map, painted 255 (ignored):",
            err=True,
        )
        for colour, pixels in summary.unknown_colours.most_common(10):
            images, first = summary.colour_images[colour], summary.colour_first[colour]
            typer.echo(f"  {colour}: {pixels:,} pixels in {images} image(s), first {first}", err=True)
    for kind, count in summary.notes.counts.items():
        typer.echo(f"{count} × {NOTES[kind]}")
    for remark in summary.remarks:
        typer.echo(f"note: {remark}")
    console = Console()
    assert summary.check is not None
    print_check(summary.check, console)
    for message in summary.check.warnings:
        typer.echo(f"warning: {message}", err=True)
    console.print(f"[green]dataset OK[/green]: train with `edgeseg train --data {summary.out} …`", markup=True)
