"""`edgeseg data synth`, `edgeseg data video` and `edgeseg data check` (`data import`: data_import.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List

import typer
from rich.console import Console
from rich.table import Table

from edgeseg.errors import require
from edgeseg.schema import Field, check_options
from edgeseg.writable import check_writable

if TYPE_CHECKING:  # the data modules need OpenCV, which the lean install lacks: imported where used
    from edgeseg.data.check import CheckReport

OPTIONS = {
    "images": Field("int", low=2),  # one train, one val
    "size": Field("int", low=16),
    "classes": Field("int", low=2, high=255),  # 255 marks ignored pixels
    "seed": Field("int", low=0),
    "frames": Field("int", low=1),
    "width": Field("int", low=16),
    "height": Field("int", low=16),
}
# Options `data synth` and `data video` share (one declaration each, so the two commands cannot drift apart).
CLASSES = typer.Option(4, help="Number of classes, background included (the same in data synth and data video).")
SEED = typer.Option(0, help="Random seed: the same seed writes the same files.")
app = typer.Typer(help="Make and check VOC-format datasets.", no_args_is_help=True)


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Folder to write OUT/VOCdevkit/VOC2012 into."),
    images: int = typer.Option(200, help="Number of images (a fifth become the val split)."),
    size: int = typer.Option(128, help="Long side of each image in pixels (the short side varies)."),
    classes: int = CLASSES,
    seed: int = SEED,
    cue: str = typer.Option(
        "colour", help="What tells a shape's class: colour (its hue), shape (its form only) or outline (a rim's hue)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Write into a non-empty OUT, replacing its lists and classes.txt [default: refuse]."
    ),
) -> None:
    """Write a synthetic dataset in exact VOC layout: textured backgrounds, overlapping shapes, 255 borders."""
    check_options(OPTIONS, images=images, size=size, classes=classes, seed=seed)
    check_writable(out, "OUT", folder=True)
    require("PIL", extra="train")
    from edgeseg.data.synth import synth_dataset

    root = synth_dataset(out, images=images, size=size, num_classes=classes, seed=seed, cue=cue, force=force)
    typer.echo(f"wrote {images} images of {classes} classes to {root}")


@app.command()
def video(
    out: Path = typer.Argument(..., help="Video file to write (.mp4, .mov, .avi or .mkv)."),
    frames: int = typer.Option(90, help="Number of frames (30 per second)."),
    width: int = typer.Option(640, help="Frame width in pixels."),
    height: int = typer.Option(480, help="Frame height in pixels."),
    classes: int = CLASSES,
    seed: int = SEED,
) -> None:
    """Write a video of a synthetic scene panning past the camera, to try `edgeseg run` on."""
    check_options(OPTIONS, frames=frames, width=width, height=height, classes=classes, seed=seed)
    check_writable(out, "OUT", folder=False)  # before OpenCV, which would blame the codec for a permission
    from edgeseg.data.synth import synth_video

    path = synth_video(out, frames=frames, width=width, height=height, num_classes=classes, seed=seed)
    typer.echo(f"wrote {frames} frames of {width}×{height} to {path}")


@app.command()
def check(
    data: Path = typer.Argument(..., help="Dataset folder (VOCdevkit, VOC2012, or your own in that layout)."),
    split: List[str] = typer.Option(None, "--split", help="Check only these splits (default: every list)."),
) -> None:
    """Validate a dataset: missing or unreadable files, size mismatches, label values out of range."""
    from edgeseg.data.check import check_dataset

    report = check_dataset(data, split or None)
    print_check(report, Console())
    for message in report.warnings:
        typer.echo(f"warning: {message}", err=True)
    if report.ok:
        Console().print("[green]dataset OK[/green]")
        return
    # The count first, the problems last: one problem reads as the CLI's one `error:` line, as every refusal does.
    shown = "" if len(report.errors) <= 20 else " (the first 20)"
    typer.echo(f"{len(report.errors)} problem(s) found in {report.root}{shown}:", err=True)
    for message in report.errors[:20]:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def print_check(report: CheckReport, console: Console) -> None:
    """What `data check` and `data import` print about a dataset: images per split, pixels per class, and the
    images with no labelled pixel."""
    console.print(f"dataset {report.root}: {len(report.class_names)} classes")
    splits = Table()
    splits.add_column("split")
    splits.add_column("images", justify="right")
    for name, count in report.split_sizes.items():
        splits.add_row(name, str(count))
    console.print(splits)
    total = max(int(report.class_pixels.sum()), 1)
    classes = Table(title=f"class pixel frequencies over {report.images_checked} images")
    for column in ("#", "class", "pixels", "share", "images"):
        classes.add_column(column, justify="left" if column == "class" else "right")
    for index, name in enumerate(report.class_names):
        pixels = int(report.class_pixels[index])
        classes.add_row(
            str(index),
            name,
            f"{pixels:,}",
            f"{100 * pixels / total:.2f}%",
            str(int(report.class_images[index])),
        )
    classes.add_row("255", "(ignore)", f"{report.ignored_pixels:,}", "", "")
    console.print(classes)
    examples = ", ".join(report.unlabelled[:5]) + (", …" if len(report.unlabelled) > 5 else "")
    console.print(
        f"images with no labelled pixel: {len(report.unlabelled)}" + (f" ({examples})" if examples else ""),
        markup=False,
    )
