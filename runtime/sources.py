"""Frame sources by URI: cameras (V4L2, CSI, RTSP, GStreamer), video files, images and image folders.

Every source iterates over `Frame`s in BGR (OpenCV's order). Live sources reopen a camera that drops
out, with back-off; file sources end at the end of the stream. Unreadable frames are skipped and
counted, never fatal.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

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
    image: np.ndarray | None  # BGR uint8 H×W×3; None for a frame or file that could not be read (counted, skipped)
    name: str  # file name, or frame number for streams
    captured: float  # time.perf_counter() when read
    timestamp: float = field(default_factory=time.time)  # wall-clock time when read


class Source(Protocol):
    """Where the run loop's frames come from.

    live: a camera or stream (the loop keeps only the newest frame) rather than a file (every frame).
    fps: the stream's frame rate (what a saved video is written at); 0 where there is none.
    reopened: times a dropped camera came back.
    """

    live: bool
    fps: float
    reopened: int

    def __iter__(self) -> Iterator[Frame]: ...

    def interrupt(self) -> None:
        """Stop waiting (a reconnect back-off) and end the iteration soon; called from another thread."""

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

    live: a camera or network stream. A failed read there means the camera dropped out: it is reopened with
    exponential back-off (0.5 s doubling to 8 s). `reconnects` failures in a row (a reopen that fails, or a
    reopened camera that still sends no frame) end the run; only a frame that arrives resets the count, so an
    RTSP server whose stream is dead is given up on instead of being reopened forever. For a file, a failed
    read is the end of the stream. A read that succeeds with an empty frame is counted as unreadable.
    """

    def __init__(
        self,
        target: int | str,
        *,
        live: bool,
        api: int | None = None,
        reconnects: int = 10,
        open_capture: Callable[..., Any] | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.target, self.live, self.api, self.reconnects = target, live, api, reconnects
        self._open = open_capture or cv2.VideoCapture
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait  # a back-off that interrupt() cuts short
        self.reopened = 0
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

    def _reopen(self, delay: float) -> bool:
        """Wait `delay`, then try once to open the camera again; True if it opened."""
        if self.capture is not None:
            self.capture.release()
            self.capture = None
        self._sleep(delay)
        if self._stop.is_set():
            return False
        self.capture = self._open_capture()
        if self.capture is None:
            return False
        self.reopened += 1
        return True

    def __iter__(self) -> Iterator[Frame]:
        index, failures, delay, opened = 0, 0, 0.5, False
        while not self._stop.is_set():
            ok, image = self.capture.read() if self.capture is not None else (False, None)
            if ok:
                frame_ok = image is not None and image.size > 0
                yield Frame(index, _to_bgr(image) if frame_ok else None, f"{index:06d}", time.perf_counter())
                index += 1
                failures, delay = 0, 0.5
                continue
            if not self.live:
                return
            if failures >= self.reconnects:
                what = "opened again but sent no frame" if opened else "did not come back"
                raise EdgesegError(f"camera {self.target} dropped out and {what} after {self.reconnects} tries")
            opened = self._reopen(delay)
            failures += 1
            delay = min(delay * 2, 8.0)

    def interrupt(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self.capture is not None:
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
        self._stop = threading.Event()

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            if self._stop.is_set():
                return
            try:
                image: np.ndarray | None = read_image(path)  # the one reader every command uses (runtime/images.py)
            except UnreadableImage:
                image = None  # counted and named by the loop
            yield Frame(index, image, path.name, time.perf_counter())

    def interrupt(self) -> None:
        self._stop.set()

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


def stream_names(uris: list[str | int]) -> list[str]:
    """A short, file-safe name per source, unique in the run: what its stats, outputs and files are called.

    0 → camera0, csi://1 → csi1, v4l2:///dev/video2 → video2, rtsp://user:pw@cam.local:554/front → cam.local-front
    (never the credentials), clip.mp4 → clip, a folder → its name, a pipeline → pipeline.
    """
    names: list[str] = []
    for uri in uris:
        text = str(uri)
        if text.isdigit():
            name = f"camera{text}"
        elif text.startswith("csi://"):
            name = f"csi{text[6:] or 0}"
        elif text.startswith("v4l2://"):
            name = Path(text[len("v4l2://") :]).name
        elif "://" in text:
            parsed = urlsplit(text)
            name = "-".join(part for part in (parsed.hostname or "", *parsed.path.split("/")) if part)
        elif "!" in text:
            name = "pipeline"
        else:
            name = Path(text).stem or Path(text).name
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "stream"
        unique, n = name, 1
        while unique in names:
            n += 1
            unique = f"{name}-{n}"
        names.append(unique)
    return names
