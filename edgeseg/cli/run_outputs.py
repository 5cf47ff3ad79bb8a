"""`edgeseg run`'s sources and outputs: opened in the order that makes every problem one line before anything starts,
and the end-of-run report. The command's options are in run.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeseg.errors import EdgesegError

if TYPE_CHECKING:
    from edgeseg.runtime.metadata import ModelMetadata
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.sinks import Sink
    from edgeseg.runtime.sources import Source
    from edgeseg.runtime.stats import RunStats
    from edgeseg.runtime.web import PageServer

TOKEN_VARIABLE = "EDGESEG_SERVE_TOKEN"  # a token here stays out of `ps` and shell history


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


def refuse_output_over_input(output: Path, option: str, source: str) -> None:
    """An output that is the input, or lies inside an input folder, would destroy what it reads: refused."""
    if not Path(source).exists():
        return  # a camera, a URL or a pipeline
    read, written = Path(source).resolve(), output.resolve()
    if written == read or read in written.parents:
        where = "is" if written == read else "lies inside"
        raise EdgesegError(f"{option} {output} {where} the input {source}; write the results somewhere else")


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


def report(stats: RunStats, saves: list[Path], stats_json: Path | None, about: dict) -> None:
    """The end-of-run table, the unreadable files, where the frames went, and --stats-json."""
    from edgeseg.atomic import write_text_atomic
    from edgeseg.runtime.sinks import is_folder

    typer.echo(stats.table())
    if stats.unreadable_files:
        shown = ", ".join(stats.unreadable_files[:10]) + (" …" if stats.unreadable > 10 else "")
        typer.echo(f"warning: skipped {stats.unreadable} unreadable file(s): {shown}", err=True)
    per_stream = [save for save in saves if save.suffix.lower() != ".mcap"]
    for recording in (save for save in saves if save.suffix.lower() == ".mcap"):
        typer.echo(f"recorded {stats.frames} frames to {recording}")
    if len(per_stream) == 1 and len(stats.streams) == 1:
        save = per_stream[0]
        what = f"the folder {save} (overlays as .jpg, masks in {save / 'masks'})" if is_folder(save) else save
        typer.echo(f"saved {stats.frames} frames to {what}")
    elif per_stream:
        where = [per_stream[0] / s.name for s in stats.streams] if len(per_stream) == 1 else per_stream
        for stream, path in zip(stats.streams, where):
            typer.echo(f"saved {stream.frames} frames of {stream.name} to {path}")
    if stats_json is not None:
        write_text_atomic(stats_json, json.dumps({**stats.summary(), **about}, indent=2) + "\n")
