"""`edgeseg run`: a model on cameras, streams, videos, images or folders, to a window and/or files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.providers import EXAMPLES, check_provider
from edgeseg.schema import Field, check_options, one_of
from edgeseg.writable import check_writable

if TYPE_CHECKING:
    from edgeseg.runtime.sources import Source
    from edgeseg.runtime.stats import RunStats

OPTIONS = {
    "camera": Field("int", low=0),
    "view": one_of(("overlay", "mask", "side")),  # runtime.render.VIEWS; that module imports OpenCV
    "alpha": Field("float", low=0, high=1),
    "max_frames": Field("int", low=1),
    "threads": Field("int", low=1),
    "reconnects": Field("int", low=0),
    "batch_timeout": Field("float", low=0),
}


def run(
    model: Path = typer.Option(
        ..., help="A .engine/.plan (TensorRT), .onnx (ONNX Runtime or OpenVINO) or .pt (PyTorch)."
    ),
    camera: Optional[int] = typer.Option(None, help="V4L2 camera index (0 for /dev/video0)."),
    source: Optional[List[str]] = typer.Option(
        None,
        help="csi://N, v4l2:///dev/videoN, rtsp://…, a camera index, a video, an image, a folder, or a GStreamer "
        "pipeline. Repeat for several streams, segmented as one batch.",
    ),
    save: Optional[List[Path]] = typer.Option(
        None,
        help="Write a video (.mp4/.avi/.mkv/.mov) or, for a name without a suffix, a folder of overlays + masks. "
        "Several sources: one --save per source, or one folder (a subfolder per stream).",
    ),
    show: bool = typer.Option(True, "--show/--no-show", help="Display a window (q or Esc quits)."),
    view: str = typer.Option("overlay", help="overlay, mask, or side (original beside overlay)."),
    alpha: float = typer.Option(0.7, help="Weight of the image in the overlay blend."),
    classes: Optional[str] = typer.Option(None, help="Colour only these classes, e.g. person,car."),
    stats_json: Optional[Path] = typer.Option(None, help="Write the run's latency and throughput statistics here."),
    max_frames: Optional[int] = typer.Option(None, help="Stop after this many frames (per stream)."),
    provider: Optional[str] = typer.Option(
        None,
        help=f"For .onnx: {EXAMPLES} [default: OpenVINO on an Intel CPU where installed, else ONNX Runtime's best].",
    ),
    precision: Optional[str] = typer.Option(
        None, help="OpenVINO's precision hint: f32, bf16 or f16 [default: the device's own]."
    ),
    threads: Optional[int] = typer.Option(
        None, help="CPU threads of ONNX Runtime or OpenVINO [default: one per core]."
    ),
    reconnects: int = typer.Option(
        10, help="Times in a row to reopen a camera or stream that drops out before giving up (back-off 0.5–8 s)."
    ),
    batch_timeout: Optional[float] = typer.Option(
        None,
        help="Several streams: ms a batch waits for the streams with no frame yet [default: one frame time].",
    ),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="Several streams: run the sources that open, skipping (and naming) the rest."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing --save video, or write into a --save folder that holds files."
    ),
) -> None:
    """Segment streams: capture, inference and outputs pipelined in threads; stats at the end."""
    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.loop import RunLoop
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.segmenter import Segmenter
    from edgeseg.runtime.sinks import is_folder, open_sinks
    from edgeseg.runtime.sources import stream_names

    if (camera is None) == (not source):
        raise EdgesegError("pass --camera N or --source URI (repeat --source for several streams), not both")
    check_options(
        OPTIONS,
        camera=camera,
        view=view,
        alpha=alpha,
        max_frames=max_frames,
        threads=threads,
        reconnects=reconnects,
        batch_timeout=batch_timeout,
    )
    check_provider(provider, precision)
    uris: list[str] = [str(camera)] if camera is not None else list(source or [])
    saves = list(save or [])
    # Before the model loads and the cameras open: a permission is named as one, not blamed on a codec.
    for option, path in [*(("--save", p) for p in saves), ("--stats-json", stats_json)]:
        if path is not None:
            for uri in uris:
                refuse_output_over_input(path, option, uri)
            check_writable(path, option, folder=option == "--save" and is_folder(path))
    # Idle ONNX Runtime threads must not spin: decoding and rendering need those cores.
    backend = open_model(model, provider=provider, threads=threads, spin=False, precision=precision)
    meta = backend.metadata
    with backend:
        renderer = Renderer(
            meta.class_names,
            meta.palette,
            view=view,
            alpha=alpha,
            classes=[c.strip() for c in classes.split(",")] if classes else None,
        )
        opened = open_sources(uris, reconnects=reconnects, allow_missing=allow_missing)
        uris, streams = [uri for uri, _ in opened], [stream for _, stream in opened]
        names = stream_names(uris)
        try:
            sinks = open_sinks(saves, show, streams, names, meta.class_names, meta.palette, force=force)
        except BaseException:
            for stream in streams:
                stream.close()
            raise
        timeout = None if batch_timeout is None else batch_timeout / 1000
        loop = RunLoop(
            streams, Segmenter(backend), renderer, sinks, max_frames=max_frames, names=names, batch_timeout=timeout
        )
        for stats, uri in zip(loop.stats.streams, uris):
            stats.source = redact(uri)
        try:
            loop.run()
            if loop.stats.frames == 0 and loop.stats.unreadable:  # read, but not one could be used
                count, shown = loop.stats.unreadable, ", ".join(loop.stats.unreadable_files[:5])
                raise EdgesegError(
                    f"none of the {count} image(s) could be read ({shown}): each is missing, corrupt, or of a kind "
                    "edgeseg does not read (32-bit or float samples); convert them to 8- or 16-bit PNG or JPEG"
                )
        finally:  # a run that failed still reports what it did and wrote
            about = {
                "model": str(model),
                "backend": type(backend).__name__,
                "backend_settings": backend.settings,
                "input_size": meta.input_size,
            }
            _report(loop.stats, saves, stats_json, about)


def open_sources(uris: list[str], *, reconnects: int, allow_missing: bool) -> list[tuple[str, Source]]:
    """Every source (the same one twice is two streams), opened before anything runs; with --allow-missing
    (several sources) those that cannot open are named and skipped, as long as one opens."""
    from edgeseg.runtime.sources import open_source

    opened: list[tuple[str, Source]] = []
    missing: list[str] = []
    try:
        for uri in uris:
            try:
                opened.append((uri, open_source(uri, reconnects=reconnects)))
            except EdgesegError as exc:
                if not allow_missing or len(uris) == 1:
                    raise
                missing.append(f"{redact(uri)} ({exc})")
    except BaseException:
        for _, stream in opened:
            stream.close()
        raise
    if missing and not opened:
        raise EdgesegError(f"no source could be opened: {'; '.join(missing)}")
    for line in missing:
        typer.echo(f"warning: skipping {line}", err=True)
    return opened


def redact(uri: str) -> str:
    """A source as it may be printed and saved: a URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    return parts._replace(netloc=f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")).geturl()


def _report(stats: RunStats, saves: list[Path], stats_json: Path | None, about: dict) -> None:
    from edgeseg.atomic import write_text_atomic
    from edgeseg.runtime.sinks import is_folder

    typer.echo(stats.table())
    if stats.unreadable_files:
        shown = ", ".join(stats.unreadable_files[:10]) + (" …" if stats.unreadable > 10 else "")
        typer.echo(f"warning: skipped {stats.unreadable} unreadable file(s): {shown}", err=True)
    if len(saves) == 1 and len(stats.streams) == 1:
        save = saves[0]
        what = f"the folder {save} (overlays as .jpg, masks in {save / 'masks'})" if is_folder(save) else save
        typer.echo(f"saved {stats.frames} frames to {what}")
    elif saves:
        where = [saves[0] / s.name for s in stats.streams] if len(saves) == 1 else saves
        for stream, path in zip(stats.streams, where):
            typer.echo(f"saved {stream.frames} frames of {stream.name} to {path}")
    if stats_json is not None:
        write_text_atomic(stats_json, json.dumps({**stats.summary(), **about}, indent=2) + "\n")


def refuse_output_over_input(output: Path, option: str, source: str) -> None:
    """An output that is the input, or lies inside an input folder, would destroy what it reads: refused."""
    if not Path(source).exists():
        return  # a camera, a URL or a pipeline
    read, written = Path(source).resolve(), output.resolve()
    if written == read or read in written.parents:
        where = "is" if written == read else "lies inside"
        raise EdgesegError(f"{option} {output} {where} the input {source}; write the results somewhere else")
