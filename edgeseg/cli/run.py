"""`edgeseg run`: a model on cameras, streams, videos, images or folders, to a window, files, a page, a network
stream, JSON lines or a broker."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import List, Optional

import typer

from edgeseg.cli.run_outputs import (
    TOKEN_VARIABLE,
    network_outputs,
    open_page_option,
    open_sources,
    redact,
    refuse_output_over_input,
    report,
)
from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.providers import EXAMPLES, check_provider
from edgeseg.runtime.stream_url import is_stream_url
from edgeseg.schema import Field, check_options, one_of
from edgeseg.writable import check_writable

OPTIONS = {
    "camera": Field("int", low=0),
    "view": one_of(("overlay", "mask", "side")),  # runtime.render.VIEWS; that module imports OpenCV
    "alpha": Field("float", low=0, high=1),
    "max_frames": Field("int", low=1),
    "threads": Field("int", low=1),
    "reconnects": Field("int", low=0),
    "batch_timeout": Field("float", low=0),
    "serve_fps": Field("float", low=0, low_open=True, high=120, optional=True),
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
    save: Optional[List[str]] = typer.Option(
        None,
        help="Write a video (.mp4/.avi/.mkv/.mov), a folder of overlays + masks (a name without a suffix), a ROS 2 "
        "recording (.mcap), or an H.264 stream: rtsp://HOST[:PORT]/PATH (to an RTSP server), rtp://HOST:PORT, "
        "udp://HOST:PORT (GStreamer). Several sources: one --save per source, or one folder (a subfolder each).",
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
        False,
        "--force",
        help="Replace an existing --save video or recording or --jsonl file, or write into a --save folder that holds "
        "files.",
    ),
    jsonl: Optional[Path] = typer.Option(None, help="Write one JSON record per frame to this file (docs/outputs.md)."),
    publish: Optional[str] = typer.Option(
        None, help="Publish the JSON records to mqtt://[user:pass@]HOST[:PORT]/TOPIC (pip install 'edgeseg[mqtt]')."
    ),
    publish_every: Optional[int] = typer.Option(None, help="Publish every Nth frame [default: 1, every frame]."),
    publish_qos: Optional[int] = typer.Option(None, help="MQTT QoS: 0 (at most once) or 1 (at least once)."),
    polygons: bool = typer.Option(False, "--polygons", help="Add each class's outlines to the JSON records."),
    confidence: bool = typer.Option(False, "--confidence", help="Add the mean confidence per class to JSON records."),
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
    """Segment streams: capture, inference and outputs pipelined in threads; stats at the end."""
    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.loop import RunLoop
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.results_out import ResultOutputs, close_all
    from edgeseg.runtime.segmenter import Segmenter
    from edgeseg.runtime.sinks import is_folder, open_sinks
    from edgeseg.runtime.sources import stream_names

    if (camera is None) == (not source):
        raise EdgesegError("pass --camera N or --source URI (repeat --source for several streams), not both")
    check_options(
        OPTIONS, camera=camera, view=view, alpha=alpha, max_frames=max_frames, threads=threads, reconnects=reconnects,
        batch_timeout=batch_timeout, serve_fps=serve_fps,
    )  # fmt: skip
    check_provider(provider, precision)
    uris: list[str] = [str(camera)] if camera is not None else list(source or [])
    stream_to = [target for target in save or [] if is_stream_url(target)]
    saves = [Path(target) for target in save or [] if not is_stream_url(target)]
    if len(stream_to) > 1 or (stream_to and len(uris) > 1):
        raise EdgesegError(
            "--save URL streams one source: pass one --save rtsp://… (or rtp://, udp://) and one --source"
        )
    results = ResultOutputs(jsonl, publish, polygons, confidence, publish_every, publish_qos)
    named = {("--save" if k == 0 else f"--save #{k + 1}"): path for k, path in enumerate(saves)}
    results.check({**named, "--stats-json": stats_json})
    # Bound now, so a port in use or a bad host fails before the model loads and the cameras open.
    page = open_page_option(serve, serve_token, serve_fps, stream_to[0] if stream_to else None)
    # Before the model loads and the cameras open: a permission is named as one, not blamed on a codec.
    for option, path in [*(("--save", p) for p in saves), ("--stats-json", stats_json), ("--jsonl", jsonl)]:
        if path is not None:
            for uri in uris:
                refuse_output_over_input(path, option, uri)
            check_writable(path, option, folder=option == "--save" and is_folder(path))
    # Idle ONNX Runtime threads must not spin: decoding and rendering need those cores.
    backend = open_model(model, provider=provider, threads=threads, spin=False, precision=precision)
    meta = backend.metadata
    about = {
        "model": str(model),
        "backend": type(backend).__name__,
        "backend_settings": backend.settings,
        "input_size": meta.input_size,
    }
    with backend, page or contextlib.nullcontext():
        shown = [c.strip() for c in classes.split(",")] if classes else None
        renderer = Renderer(meta.class_names, meta.palette, view=view, alpha=alpha, classes=shown)
        segmenter = Segmenter(backend)
        outputs = results.open(segmenter, force=force)  # before the cameras open: the broker is reached here
        try:
            opened = open_sources(uris, reconnects=reconnects, allow_missing=allow_missing)
        except BaseException:
            close_all(outputs)
            raise
        uris, streams = [uri for uri, _ in opened], [stream for _, stream in opened]
        names = stream_names(uris)
        try:
            sinks = open_sinks(
                saves, show, streams, names, meta.class_names, meta.palette, force=force,
                confidence=segmenter.has_confidence,
            ) + outputs  # fmt: skip
            sinks += network_outputs(page, stream_to[0] if stream_to else None, streams[0].fps, meta, renderer, about)
        except BaseException:
            for stream in streams:
                stream.close()
            close_all(outputs)
            raise
        timeout = None if batch_timeout is None else batch_timeout / 1000
        loop = RunLoop(streams, segmenter, renderer, sinks, max_frames=max_frames, names=names, batch_timeout=timeout)
        for stats, uri in zip(loop.stats.streams, uris):
            stats.source = redact(uri)
        if page is not None:
            page.watch(loop.stats)
        try:
            loop.run()
            if loop.stats.frames == 0 and loop.stats.unreadable:  # read, but not one could be used
                count, names_shown = loop.stats.unreadable, ", ".join(loop.stats.unreadable_files[:5])
                raise EdgesegError(
                    f"none of the {count} image(s) could be read ({names_shown}): each is missing, corrupt, or of a "
                    "kind edgeseg does not read (32-bit or float samples); convert them to 8- or 16-bit PNG or JPEG"
                )
        finally:  # a run that failed still reports what it did and wrote
            report(loop.stats, saves, stats_json, about)
