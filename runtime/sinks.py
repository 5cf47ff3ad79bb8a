"""Where finished frames go: a window, a video file, a folder of overlays and masks, or nowhere.

These are lossless outputs: the run loop calls them in turn for every frame (a file source waits for them).
Live outputs, which skip frames rather than hold anything back, run behind `edgeseg.runtime.live.LiveOutput`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeseg.atomic import atomic_path
from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.media import UniqueNames, check_writable_video, partial_path
from edgeseg.runtime.png import write_palette_png
from edgeseg.runtime.preprocess import PAD_GRAY, fit, place
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.sources import Source

cv2 = require("cv2", extra="cv")

_PROBE_SIZE = (64, 64)  # the frame a video writer is tried with before the run starts


class Sink(Protocol):
    """An output of the run loop.

    name: what messages and the stats call it. live: True for an output that must never hold the run back
    (the loop runs it behind a newest-frame slot on its own thread, and a failure closes only it).
    Optional attributes, read with getattr so that outputs without them need nothing: stream (the index of the one
    stream it takes; absent or None: every stream's), wants_confidence (True: the loop computes
    `record.confidence` for every frame, which costs host time) and every (N: a live output is offered every Nth
    finished frame only).
    """

    name: str
    live: bool

    def write(self, record: FrameRecord) -> None:
        """Take one finished frame (raises WindowClosed to stop the run)."""

    def close(self) -> None:
        """Finalize what was written (rename a finished video into place, close a window)."""


class WindowClosed(Exception):
    """The viewer closed the window or pressed q / Esc."""


class RecordDropped(Exception):
    """An output could not deliver this one record (a broker away, a record that could not be made).

    Raised by `Sink.write`; the run loop counts it in the output's stats, logs it (the 1st, 10th, 100th… time)
    and goes on, for lossless and live outputs alike. Anything else an output raises is a failure (see
    docs/architecture.md, "The run loop")."""


class DisplaySink:
    """One window; with several streams, a grid of each stream's newest frame (in stream order, row by row)."""

    name, live = "window", False

    def __init__(self, title: str = "edgeseg", streams: int = 1) -> None:
        self.title = title
        self.latest: list[np.ndarray | None] = [None] * streams
        # Without a display, OpenCV's Qt backend aborts the whole process instead of raising: check first.
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise EdgesegError("no display to show a window on (DISPLAY is not set): pass --no-show, with --save PATH")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise EdgesegError(f"cannot open a window ({exc.err}); no display here? pass --no-show") from exc

    def write(self, record: FrameRecord) -> None:
        self.latest[record.stream] = record.overlay()
        cv2.imshow(self.title, grid(self.latest) if len(self.latest) > 1 else self.latest[0])
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            raise WindowClosed

    def close(self) -> None:
        cv2.destroyWindow(self.title)


def grid(tiles: list[np.ndarray | None]) -> np.ndarray:
    """Tiles side by side, two per row up to 4 (then three), each scaled into the first one's size; a stream
    with no frame yet is a gray tile."""
    shown = [tile for tile in tiles if tile is not None]
    height, width = shown[0].shape[:2]
    blank = np.full((height, width, 3), PAD_GRAY, np.uint8)
    cells = [blank if t is None else t if t.shape[:2] == (height, width) else _fit(t, (height, width)) for t in tiles]
    columns = 2 if len(cells) <= 4 else 3
    cells += [blank] * (-len(cells) % columns)
    rows = [np.concatenate(cells[i : i + columns], axis=1) for i in range(0, len(cells), columns)]
    return np.concatenate(rows, axis=0)


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return fit(image, place(image.shape[:2], size), PAD_GRAY, cv2.INTER_AREA)


def _open_writer(path: Path, fourcc: str, fps: float, size: tuple[int, int]) -> cv2.VideoWriter | None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if writer.isOpened():
        return writer
    writer.release()
    return None


class VideoSink:
    """An .mp4/.avi/.mkv/.mov file, written under a hidden partial name and renamed into place when closed, so an
    interrupted run leaves a playable video or none.

    The first frame fixes the video's size; a frame of another size (a folder of mixed sizes, a camera that
    changed mode) is letterboxed into it, never dropped. From a live source the video keeps the camera's clock:
    a frame is repeated for the camera frames that inference skipped, so the video plays at the speed of the
    scene (at most one second of repeats per gap: a camera that was away for longer is cut, not frozen).
    """

    name, live = "video", False

    def __init__(
        self, path: Path, fps: float, *, live_source: bool = False, force: bool = False, stream: int | None = None
    ) -> None:
        self.path, self.fps, self.live_source, self.stream = path, fps or 30.0, live_source, stream
        self.fourcc = check_writable_video(path, "--save")
        if path.exists() and not force:
            raise EdgesegError(f"--save {path} exists; pass another path, or --force to replace it")
        self.partial = partial_path(path)
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None  # (width, height)
        self.frames = 0  # frames of the source written (repeats not counted)
        self.written = 0  # video frames written, repeats included
        self.letterboxed = 0
        self._first_captured: float | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgesegError(f"cannot write {path} ({exc.strerror}); pass another --save path") from exc
        self._probe()

    def _probe(self) -> None:
        """Open, and delete, a small video with this encoder: an OpenCV built without it (as on some JetPack
        images) is refused before the model loads and the camera opens, not after the first frame."""
        probe = self.path.with_name(f".{self.path.stem}.probe{self.path.suffix}")
        writer = _open_writer(probe, self.fourcc, self.fps, _PROBE_SIZE)
        if writer is not None:
            writer.release()
        with contextlib.suppress(FileNotFoundError):
            probe.unlink()
        if writer is None:
            raise EdgesegError(
                f"this OpenCV cannot write {self.path.suffix} video ({self.fourcc}) to {self.path}; try .avi "
                "(MJPG, in every OpenCV build)"
            )

    def write(self, record: FrameRecord) -> None:
        image = record.overlay()
        if self.writer is None:
            self.size = (image.shape[1], image.shape[0])
            self.writer = _open_writer(self.partial, self.fourcc, self.fps, self.size)
            if self.writer is None:
                raise EdgesegError(f"OpenCV cannot write {self.path.suffix} video to {self.path}; try .avi")
            self._first_captured = record.captured
        if (image.shape[1], image.shape[0]) != self.size:
            image = self._letterbox(image)
        for _ in range(self._copies(record.captured)):
            self.writer.write(image)
            self.written += 1
        self.frames += 1

    def _letterbox(self, image: np.ndarray) -> np.ndarray:
        assert self.size is not None
        width, height = self.size
        self.letterboxed += 1
        return _fit(image, (height, width))

    def _copies(self, captured: float) -> int:
        """How many video frames this one stands for: 1 from a file; from a camera, up to its own time slot."""
        if not self.live_source or self._first_captured is None:
            return 1
        slot = round((captured - self._first_captured) * self.fps)
        return max(1, min(slot + 1 - self.written, int(self.fps)))

    def close(self) -> None:
        if self.writer is None:
            return
        self.writer.release()
        self.writer = None
        if self.partial.exists():
            os.replace(self.partial, self.path)


class FolderSink:
    """Overlays as JPEG and masks as palette PNGs (VOC's format), named after the frames: the input's whole file
    name (photo.bmp → photo.bmp.jpg, masks/photo.bmp.png), a stream's frame number (000012.jpg).

    The folder must be new or hold no files yet (or `force`): a user's earlier results are not overwritten.
    """

    name, live = "folder", False

    def __init__(self, folder: Path, palette: np.ndarray, *, force: bool = False, stream: int | None = None) -> None:
        self.folder, self.palette, self.stream = folder, np.asarray(palette, np.uint8), stream
        self.names = UniqueNames()  # photo.bmp and photo.tif are two outputs, never one (runtime/media.py)
        if not force and folder.is_dir() and any(p.is_file() for p in _outputs(folder)):
            raise EdgesegError(
                f"--save {folder} already holds files; pass a new or empty folder, or --force to write into it"
            )
        try:
            (folder / "masks").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgesegError(f"cannot write to {folder} ({exc.strerror}); pass another --save path") from exc
        self.frames = 0

    def write(self, record: FrameRecord) -> None:
        base = self.names.claim(record.name)
        encoded, jpeg = cv2.imencode(".jpg", record.overlay())
        if not encoded:
            raise EdgesegError(f"cannot encode the overlay of {record.name} as JPEG")
        # Atomic, not synced per frame (edgeseg.atomic): a killed run leaves whole files only; close() syncs.
        with atomic_path(self.folder / f"{base}.jpg", durable=False) as tmp:
            tmp.write_bytes(jpeg.tobytes())
        write_palette_png(self.folder / "masks" / f"{base}.png", record.mask, self.palette, durable=False)
        self.frames += 1

    def close(self) -> None:
        if hasattr(os, "sync"):  # the frames' data and names reach the disk once, at the end (not on Windows)
            os.sync()


def _outputs(folder: Path) -> list[Path]:
    """What a folder holds that a run would write beside or over: its files and those of its masks/."""
    masks = folder / "masks"
    return [*folder.iterdir(), *(masks.iterdir() if masks.is_dir() else [])]


class NullSink:
    """Keeps nothing. draw=True still draws the overlay, so a measurement includes what a display would cost."""

    name, live = "none", False

    def __init__(self, draw: bool = False) -> None:
        self.draw = draw

    def write(self, record: FrameRecord) -> None:
        if self.draw:
            record.overlay()

    def close(self) -> None:
        pass


def is_folder(save: Path) -> bool:
    """--save names a folder of overlays and masks when it is one already or has no suffix; else a video."""
    return save.is_dir() or not save.suffix


def open_sinks(
    saves: Sequence[Path],
    show: bool,
    sources: Sequence[Source],
    names: Sequence[str],
    class_names: Sequence[str],
    palette: np.ndarray,
    *,
    force: bool = False,
    confidence: bool = False,
) -> list[Sink]:
    """The outputs --save and --show ask for (none: the run still measures).

    One stream: `--save` names a video or a folder. Several: one `--save` per source (each a video or a folder),
    or one folder that gets a folder of overlays and masks per stream, named after the stream. A `*.mcap` recording
    is one more output for every stream.
    """
    sinks: list[Sink] = []
    recordings = [save for save in saves if save.suffix.lower() == ".mcap"]  # one recording takes every stream
    saves = [save for save in saves if save.suffix.lower() != ".mcap"]
    if len(sources) > 1 and len(saves) == 1 and is_folder(saves[0]):
        saves = [saves[0] / name for name in names]
    elif saves and len(saves) != len(sources):
        raise EdgesegError(
            f"{len(sources)} sources but {len(saves)} --save paths: pass one --save per source (in the same "
            "order), or one folder for all"
        )
    try:
        for stream, (save, source, name) in enumerate(zip(saves, sources, names)):
            which = stream if len(sources) > 1 else None
            # A suffix names a video: one edgeseg cannot write (.webm, .gif, .jpg…) is refused, not saved as a folder.
            if is_folder(save):
                sink: Sink = FolderSink(save, palette, force=force, stream=which)
            else:
                sink = VideoSink(save, source.fps, live_source=source.live, force=force, stream=which)
            if which is not None:
                sink.name = f"{sink.name} {name}"
            sinks.append(sink)
        for recording in recordings:
            from edgeseg.runtime.mcap_sink import McapSink

            sinks.append(McapSink(recording, class_names, palette, streams=names, force=force, confidence=confidence))
        if show:
            sinks.append(DisplaySink(streams=len(sources)))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks
