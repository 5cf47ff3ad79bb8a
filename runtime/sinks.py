"""Where finished frames go: a window, a video file, a folder of overlays and masks, or nowhere.

These are lossless outputs: the run loop calls them in turn for every frame (a file source waits for them).
Live outputs, which skip frames rather than hold anything back, run behind `edgeseg.runtime.live.LiveOutput`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.media import check_writable_video, partial_path
from edgeseg.runtime.png import write_palette_png
from edgeseg.runtime.preprocess import PAD_GRAY, fit, place
from edgeseg.runtime.record import FrameRecord

cv2 = require("cv2", extra="cv")

_PROBE_SIZE = (64, 64)  # the frame a video writer is tried with before the run starts


class Sink(Protocol):
    """An output of the run loop.

    name: what messages and the stats call it. live: True for an output that must never hold the run back
    (the loop runs it behind a newest-frame slot on its own thread, and a failure closes only it).
    Two optional attributes, read with getattr so that outputs without them need nothing:
    wants_confidence (True: the loop computes `record.confidence` for every frame, which costs host time)
    and every (N: a live output is offered every Nth finished frame only).
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
    name, live = "window", False

    def __init__(self, title: str = "edgeseg") -> None:
        self.title = title
        # Without a display, OpenCV's Qt backend aborts the whole process instead of raising: check first.
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise EdgesegError("no display to show a window on (DISPLAY is not set): pass --no-show, with --save PATH")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise EdgesegError(f"cannot open a window ({exc.err}); no display here? pass --no-show") from exc

    def write(self, record: FrameRecord) -> None:
        cv2.imshow(self.title, record.overlay())
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            raise WindowClosed

    def close(self) -> None:
        cv2.destroyWindow(self.title)


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

    def __init__(self, path: Path, fps: float, *, live_source: bool = False, force: bool = False) -> None:
        self.path, self.fps, self.live_source = path, fps or 30.0, live_source
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
        return fit(image, place(image.shape[:2], (height, width)), PAD_GRAY, cv2.INTER_AREA)

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
    """Overlays as JPEG and masks as palette PNGs (VOC's format), named after the frames.

    The folder must be new or hold no files yet (or `force`): a user's earlier results are not overwritten.
    """

    name, live = "folder", False

    def __init__(self, folder: Path, palette: np.ndarray, *, force: bool = False) -> None:
        self.folder, self.palette = folder, np.asarray(palette, np.uint8)
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
        stem = Path(record.name).stem
        if not cv2.imwrite(str(self.folder / f"{stem}.jpg"), record.overlay()):
            raise EdgesegError(f"cannot write {self.folder / stem}.jpg (is the disk full?)")
        write_palette_png(self.folder / "masks" / f"{stem}.png", record.mask, self.palette)
        self.frames += 1

    def close(self) -> None:
        pass


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
    save: Path | None, show: bool, fps: float, palette: np.ndarray, *, live_source: bool = False, force: bool = False
) -> list[Sink]:
    """The outputs --save and --show ask for (none: the run still measures)."""
    sinks: list[Sink] = []
    if save is not None:
        # A suffix names a video: one edgeseg cannot write (.webm, .gif, .jpg…) is refused, not saved as a folder.
        if is_folder(save):
            sinks.append(FolderSink(save, palette, force=force))
        else:
            sinks.append(VideoSink(save, fps, live_source=live_source, force=force))
    if show:
        sinks.append(DisplaySink())
    return sinks
