"""`edgeseg run`: a model on a camera, stream, video, image or folder, to a window, files, a page or a stream."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.onnxruntime import SHORT_NAMES
from edgeseg.runtime.stream_url import is_stream_url
from edgeseg.schema import Field, check_options, one_of
from edgeseg.writable import check_writable

if TYPE_CHECKING:
    from edgeseg.runtime.metadata import ModelMetadata
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.sinks import Sink
    from edgeseg.runtime.stats import RunStats
    from edgeseg.runtime.web import PageServer

TOKEN_VARIABLE = "EDGESEG_SERVE_TOKEN"  # a token here stays out of `ps` and shell history
OPTIONS = {
    "camera": Field("int", low=0),
    "view": one_of(("overlay", "mask", "side")),  # runtime.render.VIEWS; that module imports OpenCV
    "alpha": Field("float", low=0, high=1),
    "max_frames": Field("int", low=1),
    "provider": one_of(tuple(SHORT_NAMES)),
    "threads": Field("int", low=1),
    "reconnects": Field("int", low=0),
    "serve_fps": Field("float", low=0, low_open=True, high=120, optional=True),
}


def run(
    model: Path = typer.Option(..., help="A .engine/.plan (TensorRT), .onnx (ONNX Runtime) or .pt (PyTorch)."),
    camera: Optional[int] = typer.Option(None, help="V4L2 camera index (0 for /dev/video0)."),
    source: Optional[str] = typer.Option(
        None, help="csi://N, v4l2:///dev/videoN, rtsp://…, a video, an image, a folder, or a GStreamer pipeline."
    ),
    save: Optional[str] = typer.Option(
        None,
        help="Write a video (.mp4/.avi/.mkv/.mov), a folder of overlays + masks (a name without a suffix), or an "
        "H.264 stream: rtsp://HOST[:PORT]/PATH (to an RTSP server), rtp://HOST:PORT, udp://HOST:PORT (GStreamer).",
    ),
    show: bool = typer.Option(True, "--show/--no-show", help="Display a window (q or Esc quits)."),
    view: str = typer.Option("overlay", help="overlay, mask, or side (original beside overlay)."),
    alpha: float = typer.Option(0.7, help="Weight of the image in the overlay blend."),
    classes: Optional[str] = typer.Option(None, help="Colour only these classes, e.g. person,car."),
    stats_json: Optional[Path] = typer.Option(None, help="Write the run's latency and throughput statistics here."),
    max_frames: Optional[int] = typer.Option(None, help="Stop after this many frames."),
    provider: Optional[str] = typer.Option(None, help="ONNX Runtime provider: tensorrt, cuda or cpu [default: best]."),
    threads: Optional[int] = typer.Option(None, help="ONNX Runtime CPU threads [default: one per core]."),
    reconnects: int = typer.Option(
        10, help="Times in a row to reopen a camera or stream that drops out before giving up (back-off 0.5–8 s)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing --save video, or write into a --save folder that holds files."
    ),
    serve: Optional[str] = typer.Option(
        None,
        help="Serve a live page at [HOST:]PORT: the overlay, class legend and live stats (127.0.0.1 unless a host "
        "is given; 0.0.0.0 for every network). Routes: / /stream.mjpg /snapshot.jpg /stats.json /healthz.",
    ),
    serve_token: Optional[str] = typer.Option(
        None, envvar=TOKEN_VARIABLE, help="Require this token on every --serve request (?token=…, or a header)."
    ),
    serve_fps: Optional[float] = typer.Option(None, help="Most frames a second the page sends [default: 15]."),
) -> None:
    """Segment a stream: capture, inference and rendering pipelined in threads; stats at the end."""
    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.loop import RunLoop
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.segmenter import Segmenter
    from edgeseg.runtime.sinks import open_sinks
    from edgeseg.runtime.sources import open_source

    if (camera is None) == (source is None):
        raise EdgesegError("pass exactly one of --camera N or --source URI")
    check_options(
        OPTIONS,
        camera=camera,
        view=view,
        alpha=alpha,
        max_frames=max_frames,
        provider=provider,
        threads=threads,
        reconnects=reconnects,
        serve_fps=serve_fps,
    )
    stream_to = save if is_stream_url(save) else None
    save_path = Path(save) if save is not None and stream_to is None else None
    # Bound now, so a port in use or a bad host fails before the model loads and the camera opens.
    page = open_page_option(serve, serve_token, serve_fps, stream_to)
    # Before the model loads and the camera opens: a permission is named as one, not blamed on a codec.
    from edgeseg.runtime.sinks import is_folder

    for option, path in (("--save", save_path), ("--stats-json", stats_json)):
        if path is not None:
            refuse_output_over_input(path, option, source)
            check_writable(path, option, folder=option == "--save" and is_folder(path))
    # Idle ONNX Runtime threads must not spin: decoding and rendering need those cores.
    backend = open_model(model, provider=provider, threads=threads, spin=False)
    meta = backend.metadata
    about = {"model": str(model), "backend": type(backend).__name__, "input_size": meta.input_size}
    with backend, page or contextlib.nullcontext():
        renderer = Renderer(
            meta.class_names,
            meta.palette,
            view=view,
            alpha=alpha,
            classes=[c.strip() for c in classes.split(",")] if classes else None,
        )
        stream = open_source(camera if camera is not None else source, reconnects=reconnects)
        try:
            sinks = open_sinks(save_path, show, stream.fps, meta.palette, live_source=stream.live, force=force)
            sinks += network_outputs(page, stream_to, stream.fps, meta, renderer, about)
        except BaseException:
            stream.close()
            raise
        loop = RunLoop(stream, Segmenter(backend), renderer, sinks, max_frames=max_frames)
        if page is not None:
            page.watch(loop.stats)
        try:
            loop.run()
        finally:  # a run that failed still reports what it did and wrote
            _report(loop.stats, save_path, stats_json, about)


def _report(stats: RunStats, save: Path | None, stats_json: Path | None, about: dict) -> None:
    from edgeseg.atomic import write_text_atomic
    from edgeseg.runtime.sinks import is_folder

    typer.echo(stats.table())
    if stats.unreadable_files:
        shown = ", ".join(stats.unreadable_files[:10]) + (" …" if stats.unreadable > 10 else "")
        typer.echo(f"warning: skipped {stats.unreadable} unreadable file(s): {shown}", err=True)
    if save is not None:
        what = f"the folder {save} (overlays as .jpg, masks in {save / 'masks'})" if is_folder(save) else save
        typer.echo(f"saved {stats.frames} frames to {what}")
    if stats_json is not None:
        write_text_atomic(stats_json, json.dumps({**stats.summary(), **about}, indent=2) + "\n")


def open_page_option(
    serve: str | None, token: str | None, fps: float | None, stream_to: str | None
) -> PageServer | None:
    """--serve's socket, bound (or one line: a port in use, a bad host or token); --save URL checked for GStreamer."""
    if stream_to is not None:
        from edgeseg.runtime.stream_out import check_stream_url

        check_stream_url(stream_to)
    if serve is None:
        from_environment = token is not None and os.environ.get(TOKEN_VARIABLE) == token  # kept for runs that serve
        if (token is not None and not from_environment) or fps is not None:
            raise EdgesegError("--serve-token and --serve-fps go with --serve [HOST:]PORT")
        return None
    from edgeseg.runtime.web import DEFAULT_FPS, open_page

    return open_page(serve, token=token, fps=fps or DEFAULT_FPS)


def network_outputs(
    page: PageServer | None, stream_to: str | None, fps: float, meta: ModelMetadata, renderer: Renderer, about: dict
) -> list[Sink]:
    """The live outputs --serve and --save URL ask for: the page starts serving, the stream's encoder is tried."""
    outputs: list[Sink] = []
    if stream_to is not None:
        from edgeseg.runtime.stream_out import StreamOutput

        outputs.append(StreamOutput(stream_to, fps))
    if page is not None:
        drawn = [not renderer.hidden[i] for i in range(meta.num_classes)]  # --classes colours only some
        page.start(class_names=meta.class_names, palette=meta.palette, drawn=drawn, about=about)
        outputs.append(page.output())
        token = "?token=<your --serve-token>" if page.token else ""
        typer.echo(f"live page: {page.url}{token} (also stream.mjpg, snapshot.jpg, stats.json)")
    return outputs


def refuse_output_over_input(output: Path, option: str, source: str | None) -> None:
    """An output that is the input, or lies inside an input folder, would destroy what it reads: refused."""
    if source is None or not Path(source).exists():
        return  # a camera, a URL or a pipeline
    read, written = Path(source).resolve(), output.resolve()
    if written == read or read in written.parents:
        where = "is" if written == read else "lies inside"
        raise EdgesegError(f"{option} {output} {where} the input {source}; write the results somewhere else")
