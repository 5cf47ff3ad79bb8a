"""Frames for the people watching: the newest record of each stream, JPEG-encoded only while someone watches.

The page's output (a live output: the run loop hands it records on its own thread, docs/architecture.md, "The
run loop") publishes each record here. Nothing is encoded while no one watches. While someone does, the newest
record of a stream is drawn and encoded at most `fps` times a second, once per view however many watch it, and
the same bytes are offered to each viewer's one-frame slot. A viewer whose connection is slow takes only the
newest frame when it is ready (the others are counted as skipped), so it never holds back inference, the
encoder or another viewer, and nothing waits in a queue that could grow.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.render import VIEWS

cv2 = require("cv2", extra="cv")

JPEG_QUALITY = 80  # what a browser shows over Wi-Fi without visible blocks at a third of the raw size
MAX_VIEWERS = 16  # streams open at once; a 17th gets 503 (each holds a thread and a socket)


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise EdgesegError(f"OpenCV could not encode a {image.shape} frame as JPEG")
    return data.tobytes()


class Viewer:
    """One open /stream.mjpg: the newest JPEG not yet sent, and what it sent and skipped."""

    def __init__(self, stream: int, view: str) -> None:
        self.stream, self.view = stream, view
        self.sent = 0
        self.skipped = 0  # frames replaced before this viewer's connection took them
        self.closed = False
        self._jpeg: bytes | None = None
        self._ready = threading.Condition()

    def offer(self, jpeg: bytes) -> None:
        with self._ready:
            if self._jpeg is not None:
                self.skipped += 1
            self._jpeg = jpeg
            self._ready.notify()

    def take(self, timeout: float) -> bytes | None:
        """The newest frame, waiting up to `timeout` seconds for one; None on timeout or once closed."""
        with self._ready:
            if self._jpeg is None and not self.closed:
                self._ready.wait(timeout)
            jpeg, self._jpeg = (None, self._jpeg) if self.closed else (self._jpeg, None)
            return jpeg

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._jpeg = None
            self._ready.notify_all()


@dataclass
class _Stream:
    newest: FrameRecord | None = None
    allowed_at: float = 0.0  # when the next frame may be encoded (at most `fps` a second)
    encoded: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # view → (record index, its JPEG)
    shares: tuple[int, list[float]] | None = None  # (record index, each class's share of that frame)


class FrameHub:
    """The newest record per stream, and the viewers of each (stream, view)."""

    def __init__(self, num_classes: int, fps: float = 15.0, streams: int = 1) -> None:
        if not fps > 0:
            raise EdgesegError(f"--serve-fps must be a number > 0, got {fps}")
        self.num_classes, self.period, self.streams = num_classes, 1.0 / fps, streams
        self.encoded = 0  # JPEG frames made for viewers (a frame sent to four viewers counts once)
        self.closed = False
        self._streams = [_Stream() for _ in range(streams)]
        self._viewers: list[Viewer] = []
        self._lock = threading.Lock()  # the viewers and each stream's newest record
        self._encoding = threading.Lock()  # the JPEG cache: the output thread and any request may encode

    # The run's side: called by the page's output thread with the newest record.

    def publish(self, record: FrameRecord) -> None:
        """Keep `record` as its stream's newest; encode it for the viewers when one is due."""
        if not 0 <= record.stream < self.streams:
            return  # a stream this page was not started for
        state = self._streams[record.stream]
        with self._lock:
            state.newest = record
            viewers = [v for v in self._viewers if v.stream == record.stream]
            now = time.monotonic()
            if not viewers or now < state.allowed_at:
                return
            # Keep the cadence without a burst after a pause: never more than one period of credit.
            state.allowed_at = max(state.allowed_at, now - self.period) + self.period
        for view in sorted({v.view for v in viewers}):
            with self._encoding:
                jpeg = self._jpeg(record, view)
            for viewer in viewers:
                if viewer.view == view:
                    viewer.offer(jpeg)

    def _jpeg(self, record: FrameRecord, view: str) -> bytes:
        state = self._streams[record.stream]
        cached = state.encoded.get(view)
        if cached is not None and cached[0] == record.index:
            return cached[1]
        jpeg = encode_jpeg(record.overlay(view))
        state.encoded[view] = (record.index, jpeg)
        self.encoded += 1
        return jpeg

    # The server's side: called from each connection's thread.

    def add_viewer(self, stream: int, view: str) -> Viewer | None:
        """A slot for a new /stream.mjpg, or None when MAX_VIEWERS are watching already."""
        check_choice(stream, view, self.streams)
        with self._lock:
            if self.closed or len(self._viewers) >= MAX_VIEWERS:
                return None
            viewer = Viewer(stream, view)
            self._viewers.append(viewer)
            newest = self._streams[stream].newest
        if newest is not None:  # the first frame at once, not at the next publish (a paused or ended stream)
            with self._encoding:
                viewer.offer(self._jpeg(newest, view))
        return viewer

    def remove_viewer(self, viewer: Viewer) -> None:
        viewer.close()
        with self._lock:
            if viewer in self._viewers:
                self._viewers.remove(viewer)

    def viewers(self) -> int:
        with self._lock:
            return len(self._viewers)

    def snapshot(self, stream: int, view: str) -> bytes | None:
        """The newest frame of `stream` in `view` as JPEG (encoded now if no viewer made it), or None yet."""
        check_choice(stream, view, self.streams)
        record = self._streams[stream].newest
        if record is None:
            return None
        with self._encoding:
            return self._jpeg(record, view)

    def class_shares(self, stream: int) -> list[float] | None:
        """Each class's share (0–1) of the newest frame's pixels, or None before the first frame."""
        state = self._streams[stream]
        record = state.newest
        if record is None:
            return None
        if state.shares is None or state.shares[0] != record.index:
            counts = np.bincount(record.mask.ravel(), minlength=self.num_classes)[: self.num_classes]
            state.shares = (record.index, (counts / max(record.mask.size, 1)).tolist())
        return state.shares[1]

    def frame_index(self, stream: int) -> int | None:
        record = self._streams[stream].newest
        return None if record is None else record.index

    def close(self) -> None:
        """End every stream (their connections finish at once) and refuse new ones."""
        with self._lock:
            self.closed = True
            viewers, self._viewers = self._viewers, []
        for viewer in viewers:
            viewer.close()


def check_choice(stream: int, view: str, streams: int) -> None:
    if view not in VIEWS:
        raise EdgesegError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if not 0 <= stream < streams:
        raise EdgesegError(f"stream must be 0{f'–{streams - 1}' if streams > 1 else ''}, got {stream}")
