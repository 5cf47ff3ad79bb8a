"""Where rendered frames go: a window, a video file, an image folder, or nowhere."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.media import check_writable_video, partial_path
from edgeseg.runtime.png import write_palette_png

cv2 = require("cv2", extra="cv")


class Sink(Protocol):
    """Where the run loop's rendered frames go."""

    def write(self, image: np.ndarray, mask: np.ndarray, name: str) -> None:
        """Take one rendered BGR frame, its class mask and the frame's name (raises WindowClosed to stop)."""

    def close(self) -> None:
        """Finalize what was written (rename a finished video into place, close a window)."""


class WindowClosed(Exception):
    """The viewer closed the window or pressed q / Esc."""


class DisplaySink:
    def __init__(self, title: str = "edgeseg") -> None:
        self.title = title
        # Without a display, OpenCV's Qt backend aborts the whole process instead of raising: check first.
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise EdgesegError("no display to show a window on (DISPLAY is not set): pass --no-show, with --save PATH")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise EdgesegError(f"cannot open a window ({exc.err}); no display here? pass --no-show") from exc

    def write(self, image: np.ndarray, mask: np.ndarray, name: str) -> None:
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            raise WindowClosed

    def close(self) -> None:
        cv2.destroyWindow(self.title)


class VideoSink:
    """An .mp4/.avi/.mkv/.mov file, written under a temporary name and renamed when finalized, so an
    interrupted run leaves either a playable video or none."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps or 30.0
        self.fourcc = check_writable_video(path, "--save")
        self.partial = partial_path(path)
        self.writer = None
        self.frames = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgesegError(f"cannot write {path} ({exc.strerror}); pass another --save path") from exc

    def write(self, image: np.ndarray, mask: np.ndarray, name: str) -> None:
        if self.writer is None:  # the size of the first rendered frame fixes the video's size
            fourcc = cv2.VideoWriter_fourcc(*self.fourcc)
            self.writer = cv2.VideoWriter(str(self.partial), fourcc, self.fps, (image.shape[1], image.shape[0]))
            if not self.writer.isOpened():
                raise EdgesegError(f"OpenCV cannot write {self.path.suffix} video to {self.path}; try .avi")
        self.writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            os.replace(self.partial, self.path)


class FolderSink:
    """Overlays as JPEG and masks as palette PNGs (VOC's format), named after the frames."""

    def __init__(self, folder: Path, palette: np.ndarray) -> None:
        self.folder, self.palette = folder, np.asarray(palette, np.uint8)
        try:
            (folder / "masks").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgesegError(f"cannot write to {folder} ({exc.strerror}); pass another --save path") from exc
        self.frames = 0

    def write(self, image: np.ndarray, mask: np.ndarray, name: str) -> None:
        stem = Path(name).stem
        if not cv2.imwrite(str(self.folder / f"{stem}.jpg"), image):
            raise EdgesegError(f"cannot write {self.folder / stem}.jpg")
        write_palette_png(self.folder / "masks" / f"{stem}.png", mask, self.palette)
        self.frames += 1

    def close(self) -> None:
        pass


class NullSink:
    def write(self, image: np.ndarray, mask: np.ndarray, name: str) -> None:
        pass

    def close(self) -> None:
        pass


def is_folder(save: Path) -> bool:
    """--save names a folder of overlays and masks when it is one already or has no suffix; else a video."""
    return save.is_dir() or not save.suffix


def open_sinks(save: Path | None, show: bool, fps: float, palette: np.ndarray) -> list[Sink]:
    """The sinks --save and --show ask for; a NullSink when neither (the run still measures)."""
    sinks: list[Sink] = []
    if save is not None:
        # A suffix names a video: one edgeseg cannot write (.webm, .gif, .jpg…) is refused, not saved as a folder.
        sinks.append(FolderSink(save, palette) if is_folder(save) else VideoSink(save, fps))
    if show:
        sinks.append(DisplaySink())
    return sinks or [NullSink()]
