"""`edgeseg run`: a model on a camera, stream, video, image or folder, to a window and/or files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.onnxruntime import SHORT_NAMES
from edgeseg.schema import Field, check_options, one_of
from edgeseg.writable import check_writable

OPTIONS = {
    "camera": Field("int", low=0),
    "view": one_of(("overlay", "mask", "side")),  # runtime.render.VIEWS; that module imports OpenCV
    "alpha": Field("float", low=0, high=1),
    "max_frames": Field("int", low=1),
    "provider": one_of(tuple(SHORT_NAMES)),
    "threads": Field("int", low=1),
}


def run(
    model: Path = typer.Option(..., help="A .engine/.plan (TensorRT), .onnx (ONNX Runtime) or .pt (PyTorch)."),
    camera: Optional[int] = typer.Option(None, help="V4L2 camera index (0 for /dev/video0)."),
    source: Optional[str] = typer.Option(
        None, help="csi://N, v4l2:///dev/videoN, rtsp://…, a video, an image, a folder, or a GStreamer pipeline."
    ),
    save: Optional[Path] = typer.Option(
        None, help="Write a video (.mp4/.avi/.mkv/.mov) or, for a name without a suffix, a folder of overlays + masks."
    ),
    show: bool = typer.Option(True, "--show/--no-show", help="Display a window (q or Esc quits)."),
    view: str = typer.Option("overlay", help="overlay, mask, or side (original beside overlay)."),
    alpha: float = typer.Option(0.7, help="Weight of the image in the overlay blend."),
    classes: Optional[str] = typer.Option(None, help="Colour only these classes, e.g. person,car."),
    stats_json: Optional[Path] = typer.Option(None, help="Write the run's latency and throughput statistics here."),
    max_frames: Optional[int] = typer.Option(None, help="Stop after this many frames."),
    provider: Optional[str] = typer.Option(None, help="ONNX Runtime provider: tensorrt, cuda or cpu [default: best]."),
    threads: Optional[int] = typer.Option(None, help="ONNX Runtime CPU threads [default: one per core]."),
) -> None:
    """Segment a stream: capture, inference and rendering pipelined in threads; stats at the end."""
    from edgeseg.atomic import write_text_atomic
    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.loop import RunLoop
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.segmenter import Segmenter
    from edgeseg.runtime.sinks import is_folder, open_sinks
    from edgeseg.runtime.sources import open_source

    if (camera is None) == (source is None):
        raise EdgesegError("pass exactly one of --camera N or --source URI")
    check_options(
        OPTIONS, camera=camera, view=view, alpha=alpha, max_frames=max_frames, provider=provider, threads=threads
    )
    # Before the model loads and the camera opens: a permission is named as one, not blamed on a codec.
    if save is not None:
        check_writable(save, "--save", folder=is_folder(save))
    if stats_json is not None:
        check_writable(stats_json, "--stats-json", folder=False)
    # Idle ONNX Runtime threads must not spin: decoding and rendering need those cores.
    backend = open_model(model, provider=provider, threads=threads, spin=False)
    meta = backend.metadata
    with backend:
        renderer = Renderer(
            meta.class_names,
            meta.palette,
            view=view,
            alpha=alpha,
            classes=[c.strip() for c in classes.split(",")] if classes else None,
        )
        stream = open_source(camera if camera is not None else source)
        sinks = open_sinks(save, show, stream.fps, meta.palette)
        stats = RunLoop(stream, Segmenter(backend), renderer, sinks, max_frames=max_frames).run()
    typer.echo(stats.table())
    if stats.unreadable_files:
        shown = ", ".join(stats.unreadable_files[:10]) + (" …" if len(stats.unreadable_files) > 10 else "")
        typer.echo(f"warning: skipped {stats.unreadable} unreadable file(s): {shown}", err=True)
    if save is not None:
        what = f"the folder {save} (overlays as .jpg, masks in {save / 'masks'})" if is_folder(save) else save
        typer.echo(f"saved {stats.frames} frames to {what}")
    if stats_json is not None:
        summary = {
            **stats.summary(),
            "model": str(model),
            "backend": type(backend).__name__,
            "input_size": meta.input_size,
        }
        write_text_atomic(stats_json, json.dumps(summary, indent=2) + "\n")
