"""Frame sources by URI: cameras (V4L2, CSI, RTSP, GStreamer), video files, images and image folders.

Every source iterates over `Frame`s in BGR (OpenCV's order). Live sources reopen a camera that drops
out, with back-off; file sources end at the end of the stream. Unreadable frames are skipped and
counted, never fatal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.images import UnreadableImage, read_image
from edgeseg.runtime.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, images_in

cv2 = require("cv2", extra="cv")

GSTREAMER_FIX = (
    "this OpenCV has no GStreamer (pip's opencv-python never has); on a Jetson use JetPack's OpenCV: "
    "`pip uninstall opencv-python` in a venv made with --system-site-packages (see docs/jetson.md)"
)


@dataclass
class Frame:
    index: int
    image: np.ndarray  # BGR uint8 H×W×3
    name: str  # file name, or frame number for streams
    captured: float  # time.perf_counter() when read


class Source(Protocol):
    """Where the run loop's frames come from.

    live: a camera or stream (the loop keeps only the newest frame) rather than a file (every frame).
    fps: the stream's frame rate (what a saved video is written at); 0 where there is none.
    unreadable: names of the files skipped as unreadable. reopened: times a dropped camera came back.
    """

    live: bool
    fps: float
    unreadable: list[str]
    reopened: int

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def csi_pipeline(sensor: int, width: int = 1280, height: int = 720, fps: int = 30) -> str:
    """A GStreamer pipeline for a Jetson CSI camera through nvarguscamerasrc, ending in BGR appsink."""
    return (
        f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM), width={width}, height={height}, "
        f"framerate={fps}/1 ! nvvidconv ! video/x-raw, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! "
        f"appsink drop=true max-buffers=1"
    )


def has_gstreamer() -> bool:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def _to_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class CaptureSource:
    """cv2.VideoCapture over a camera, stream or file.

    live: a camera or network stream. A failed read there means the camera dropped out: it is
    reopened with exponential back-off (0.5 s doubling to 8 s) up to `reconnects` times in a row.
    For a file, a failed read is the end of the stream.
    """

    def __init__(
        self,
        target: int | str,
        *,
        live: bool,
        api: int | None = None,
        reconnects: int = 10,
        open_capture: Callable[..., Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target, self.live, self.api, self.reconnects = target, live, api, reconnects
        self._open = open_capture or cv2.VideoCapture
        self._sleep = sleep
        self.reopened = 0
        self.unreadable: list[str] = []  # a stream has no files to skip
        self.capture = self._open_capture()
        if self.capture is None:
            kind = "camera" if live else "video"
            raise EdgesegError(f"cannot open {kind} {target}: check that it exists and is not in use")
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0) or 30.0

    def _open_capture(self) -> Any:
        # Silence OpenCV while it probes its capture backends: each one that cannot open the target logs a
        # line, burying the single clear error edgeseg gives when none can.
        logging = cv2.utils.logging
        previous = logging.getLogLevel()
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
        try:
            capture = self._open(self.target) if self.api is None else self._open(self.target, self.api)
        finally:
            logging.setLogLevel(previous)
        if capture is not None and capture.isOpened():
            return capture
        if capture is not None:
            capture.release()
        return None

    def _reconnect(self) -> bool:
        self.capture.release()
        delay = 0.5
        for _ in range(self.reconnects):
            self._sleep(delay)
            capture = self._open_capture()
            if capture is not None:
                self.capture = capture
                self.reopened += 1
                return True
            delay = min(delay * 2, 8.0)
        return False

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok, image = self.capture.read()
            if not ok or image is None:
                if not self.live:
                    return
                if not self._reconnect():
                    raise EdgesegError(
                        f"camera {self.target} dropped out and did not come back after {self.reconnects} tries"
                    )
                continue
            yield Frame(index, _to_bgr(image), f"{index:06d}", time.perf_counter())
            index += 1

    def close(self) -> None:
        self.capture.release()


class ImageSource:
    """One image file, or every image in a folder (sorted by name). Unreadable files are skipped."""

    live = False
    fps = 0.0
    reopened = 0

    def __init__(self, paths: list[Path]) -> None:
        if not paths:
            raise EdgesegError("no images to read (.jpg, .png, .bmp, .tif, .webp)")
        self.paths = paths
        self.unreadable: list[str] = []

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for path in self.paths:
            try:
                image = read_image(path)  # the one reader every command uses (runtime/images.py)
            except UnreadableImage:
                self.unreadable.append(path.name)
                continue
            yield Frame(index, image, path.name, time.perf_counter())
            index += 1

    def close(self) -> None:
        pass


def open_source(uri: str | int, *, reconnects: int = 10) -> CaptureSource | ImageSource:
    """A source for a camera index, csi://N, v4l2:///dev/videoN, rtsp://…, a video, an image, a folder,
    or a raw GStreamer pipeline (anything containing '!' that ends in appsink)."""
    if isinstance(uri, int) or str(uri).isdigit():
        return CaptureSource(int(uri), live=True, reconnects=reconnects)
    text = str(uri)
    if text.startswith("csi://"):
        if not has_gstreamer():
            raise EdgesegError(f"{text} needs GStreamer: {GSTREAMER_FIX}")
        return CaptureSource(csi_pipeline(int(text[6:] or 0)), live=True, api=cv2.CAP_GSTREAMER, reconnects=reconnects)
    if text.startswith("v4l2://"):
        return CaptureSource(text[len("v4l2://") :], live=True, api=cv2.CAP_V4L2, reconnects=reconnects)
    if text.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return CaptureSource(text, live=True, reconnects=reconnects)
    if "!" in text:
        if not has_gstreamer():
            raise EdgesegError(f"a GStreamer pipeline needs GStreamer: {GSTREAMER_FIX}")
        return CaptureSource(text, live=True, api=cv2.CAP_GSTREAMER, reconnects=reconnects)
    path = Path(text)
    if path.is_dir():
        return ImageSource(images_in(path))
    if not path.exists():
        raise EdgesegError(
            f"source not found: {text} (a camera index, csi://N, v4l2:///dev/videoN, rtsp://…, a file or a folder)"
        )
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([path])
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return CaptureSource(str(path), live=False)
    raise EdgesegError(f"{path.name} is neither a video ({', '.join(VIDEO_SUFFIXES)}) nor an image")
