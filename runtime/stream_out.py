"""`--save rtsp://…`, `rtp://HOST:PORT`, `udp://HOST:PORT`: the overlay as an H.264 stream to another machine.

OpenCV's VideoWriter runs the GStreamer pipeline of `edgeseg.runtime.stream_url` (OpenCV pushes the BGR frames
into its `appsrc`). pip's OpenCV has no GStreamer, so there the option fails before the model loads, saying what
to install. The stream is a live output (docs/architecture.md, "The run loop"): a slow network costs frames of
the stream, never frames of the run.
"""

from __future__ import annotations

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.preprocess import PAD_GRAY, fit, place
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.sources import GSTREAMER_FIX, has_gstreamer
from edgeseg.runtime.stream_url import StreamTarget, encoder_stage, parse_stream_url, pick_encoder, stream_pipeline

cv2 = require("cv2", extra="cv")

_PROBE_SIZE = (64, 64)


def check_stream_url(url: str, option: str = "--save") -> StreamTarget:
    """The URL parsed, and GStreamer in this OpenCV; before the model loads, so a desktop's pip OpenCV says so now."""
    target = parse_stream_url(url, option)
    if not has_gstreamer():
        raise EdgesegError(f"{option} {target}: streaming needs GStreamer, and {GSTREAMER_FIX}")
    return target


def _open_writer(pipeline: str, fps: float, size: tuple[int, int]) -> cv2.VideoWriter | None:
    writer = cv2.VideoWriter(pipeline, cv2.CAP_GSTREAMER, 0, fps, size, True)
    if writer.isOpened():
        return writer
    writer.release()
    return None


class StreamOutput:
    """The overlay as an H.264 network stream: a live output, opened at the first frame's size.

    Frames keep the source's clock: a frame stands in for the ones the run skipped (at most a second of them),
    so the stream's timestamps follow the scene and a player neither races nor falls behind.
    """

    name, live = "stream", True

    def __init__(self, url: str, fps: float, *, option: str = "--save", encoder: str | None = None) -> None:
        self.target = check_stream_url(url, option)
        self.fps = fps if fps and fps > 0 else 30.0
        self.encoder = encoder or pick_encoder()
        self.pipeline = stream_pipeline(self.target, self.encoder, self.fps)
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None
        self.frames = self.written = 0
        self._first: float | None = None
        # The encoder and parser, tried before the run on a fakesink: a missing plugin fails now, not at frame 1.
        probe = f"appsrc ! {encoder_stage(self.encoder, self.fps)} ! fakesink"
        writer = _open_writer(probe, self.fps, _PROBE_SIZE)
        if writer is None:
            raise EdgesegError(
                f"{option} {self.target}: GStreamer cannot run the {self.encoder} encoder here; check it with "
                f"gst-inspect-1.0 {self.encoder} (x264enc: sudo apt-get install gstreamer1.0-plugins-ugly)"
            )
        writer.release()

    def write(self, record: FrameRecord) -> None:
        image = record.overlay()
        if self.writer is None:
            self.size = (image.shape[1], image.shape[0])
            self.writer = _open_writer(self.pipeline, self.fps, self.size)
            if self.writer is None:
                raise EdgesegError(f"GStreamer could not open the stream to {self.target}: {self.pipeline}")
            self._first = record.captured
        if (image.shape[1], image.shape[0]) != self.size:  # a camera that changed mode: letterboxed, as a video's
            width, height = self.size
            image = fit(image, place(image.shape[:2], (height, width)), PAD_GRAY, cv2.INTER_AREA)
        for _ in range(self._copies(record.captured)):
            self.writer.write(image)
            self.written += 1
        self.frames += 1

    def _copies(self, captured: float) -> int:
        assert self._first is not None
        slot = round((captured - self._first) * self.fps)
        return max(1, min(slot + 1 - self.written, int(self.fps)))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
