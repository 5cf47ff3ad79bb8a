"""`edgeseg run`: a model on a camera, stream, video, image or folder, to a window and/or files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.onnxruntime import SHORT_NAMES
from edgeseg.schema import Field, check_options, one_of
from edgeseg.writable import check_writable

if TYPE_CHECKING:
    from edgeseg.runtime.stats import RunStats

OPTIONS = {
    "camera": Field("int", low=0),
    "view": one_of(("overlay", "mask", "side")),  # runtime.render.VIEWS; that module imports OpenCV
    "alpha": Field("float", low=0, high=1),
    "max_frames": Field("int", low=1),
    "provider": one_of(tuple(SHORT_NAMES)),
    "threads": Field("int", low=1),
    "reconnects": Field("int", low=0),
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
    reconnects: int = typer.Option(
        10, help="Times in a row to reopen a camera or stream that drops out before giving up (back-off 0.5–8 s)."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace an existing --save video or --jsonl file, or write into a --save folder that holds files.",
    ),
    jsonl: Optional[Path] = typer.Option(None, help="Write one JSON record per frame to this file (docs/outputs.md)."),
    publish: Optional[str] = typer.Option(
        None, help="Publish the JSON records to mqtt://[user:pass@]HOST[:PORT]/TOPIC (pip install 'edgeseg[mqtt]')."
    ),
    publish_every: Optional[int] = typer.Option(None, help="Publish every Nth frame [default: 1, every frame]."),
    publish_qos: Optional[int] = typer.Option(None, help="MQTT QoS: 0 (at most once) or 1 (at least once)."),
    polygons: bool = typer.Option(False, "--polygons", help="Add each class's outlines to the JSON records."),
    confidence: bool = typer.Option(False, "--confidence", help="Add the mean confidence per class to JSON records."),
) -> None:
    """Segment a stream: capture, inference and rendering pipelined in threads; stats at the end."""
    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.loop import RunLoop
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.results_out import ResultOutputs, close_all
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
    )
    # Before the model loads and the camera opens: a permission is named as one, not blamed on a codec.
    from edgeseg.runtime.sinks import is_folder

    results = ResultOutputs(jsonl, publish, polygons, confidence, publish_every, publish_qos)
    results.check({"--save": save, "--stats-json": stats_json})
    for option, path in (("--save", save), ("--stats-json", stats_json), ("--jsonl", jsonl)):
        if path is not None:
            refuse_output_over_input(path, option, source)
            check_writable(path, option, folder=option == "--save" and is_folder(path))
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
        segmenter = Segmenter(backend)
        outputs = results.open(segmenter, force=force)  # before the camera opens: the broker is reached here
        try:
            stream = open_source(camera if camera is not None else source, reconnects=reconnects)
        except BaseException:
            close_all(outputs)
            raise
        try:
            sinks = open_sinks(save, show, stream.fps, meta.palette, live_source=stream.live, force=force) + outputs
        except BaseException:
            stream.close()
            close_all(outputs)
            raise
        loop = RunLoop(stream, segmenter, renderer, sinks, max_frames=max_frames)
        try:
            loop.run()
        finally:  # a run that failed still reports what it did and wrote
            _report(
                loop.stats,
                save,
                stats_json,
                {"model": str(model), "backend": type(backend).__name__, "input_size": meta.input_size},
            )


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


def refuse_output_over_input(output: Path, option: str, source: str | None) -> None:
    """An output that is the input, or lies inside an input folder, would destroy what it reads: refused."""
    if source is None or not Path(source).exists():
        return  # a camera, a URL or a pipeline
    read, written = Path(source).resolve(), output.resolve()
    if written == read or read in written.parents:
        where = "is" if written == read else "lies inside"
        raise EdgesegError(f"{option} {output} {where} the input {source}; write the results somewhere else")
