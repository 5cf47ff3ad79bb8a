"""The run loop, pipelined: capture + pre-processing, inference, and post-processing + rendering each
run in their own thread, joined by bounded queues, so the accelerator never waits on the CPU work.

Read as the data path it is:  for frame in source: sink.write(renderer.draw(frame, segmenter(frame)))

Live sources keep only the newest frame: when inference falls behind, the stale frame waiting in the
queue is replaced (and counted as dropped), so what is shown is never old. File sources block instead:
every frame is processed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from edgeseg.interrupt import StopOnInterrupt
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.segmenter import Segmenter
from edgeseg.runtime.sinks import WindowClosed
from edgeseg.runtime.stats import RunStats

_END = object()
_POLL = 0.05  # seconds between checks of the stop flag while waiting on a queue


class Pipeline:
    def __init__(
        self,
        source: Any,
        segmenter: Segmenter,
        renderer: Renderer,
        sinks: Sequence[Any],
        *,
        max_frames: int | None = None,
        queue_size: int = 2,
        banner: bool = True,
    ) -> None:
        self.source, self.segmenter, self.renderer, self.sinks = source, segmenter, renderer, list(sinks)
        self.max_frames, self.banner = max_frames, banner
        self.live = bool(getattr(source, "live", False))
        # Live: one slot, so a waiting frame is at most one inference old. Files: a little slack.
        self.prepared: queue.Queue = queue.Queue(maxsize=1 if self.live else queue_size)
        self.inferred: queue.Queue = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.stats = RunStats()

    def _put(self, q: queue.Queue, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue) -> Any:
        while True:
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                if self.stop.is_set() and q.empty():
                    return _END

    def _capture(self) -> None:
        try:
            frames = iter(self.source)
            count = 0
            while not self.stop.is_set() and (self.max_frames is None or count < self.max_frames):
                started = time.perf_counter()
                frame = next(frames, None)
                if frame is None:
                    break
                read = time.perf_counter()
                tensor, placement = self.segmenter.prepare(frame.image)
                item = (frame, tensor, placement, read - started, time.perf_counter() - read)
                count += 1
                if self.live:
                    try:  # replace the stale frame instead of waiting behind it
                        self.prepared.get_nowait()
                        self.stats.dropped += 1
                    except queue.Empty:
                        pass
                if not self._put(self.prepared, item):
                    break
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self._put_end(self.prepared)

    def _put_end(self, q: queue.Queue) -> None:
        while True:
            try:
                q.put(_END, timeout=_POLL)
                return
            except queue.Full:
                if self.stop.is_set():  # nobody reads any more: make room for the end marker
                    with contextlib.suppress(queue.Empty):
                        q.get_nowait()

    def _infer(self) -> None:
        try:
            while (item := self._get(self.prepared)) is not _END:
                frame, tensor, placement, capture_s, pre_s = item
                started = time.perf_counter()
                logits = self.segmenter.infer(tensor)
                infer_s = time.perf_counter() - started
                if not self._put(self.inferred, (frame, logits, placement, capture_s, pre_s, infer_s)):
                    break
        except BaseException as exc:
            self.errors.append(exc)
            self.stop.set()
        finally:
            self._put_end(self.inferred)

    def run(self) -> RunStats:
        """Process the source to its end, max_frames, q/Esc, an error, or Ctrl-C; sinks are always closed."""
        threads = [
            threading.Thread(target=self._capture, name="capture", daemon=True),
            threading.Thread(target=self._infer, name="infer", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            with StopOnInterrupt("Ctrl-C: finishing the current frame and closing the outputs") as interrupt:
                while not interrupt.requested and (item := self._get(self.inferred)) is not _END:
                    self._finish(*item)
                self.stats.interrupted = interrupt.requested
        except WindowClosed:
            pass
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, but still close the outputs
            self.stats.interrupted = True
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=10)
            self.stats.finished = time.perf_counter()
            self.stats.unreadable_files = list(getattr(self.source, "unreadable", []))
            self.stats.unreadable = len(self.stats.unreadable_files)
            self.stats.reopened = getattr(self.source, "reopened", 0)
            for sink in self.sinks:
                sink.close()
            self.source.close()
        if self.errors:
            raise self.errors[0]
        return self.stats

    def _finish(self, frame: Any, logits: Any, placement: Any, capture_s: float, pre_s: float, infer_s: float) -> None:
        started = time.perf_counter()
        mask = self.segmenter.finish(logits, placement)
        post_done = time.perf_counter()
        banner = None
        if self.banner:
            banner = f"{self.stats.current_fps():.1f} FPS  infer {1000 * infer_s:.1f} ms"
        image = self.renderer.draw(frame.image, mask, banner)
        for sink in self.sinks:
            sink.write(image, mask, frame.name)
        done = time.perf_counter()
        for stage, seconds in (
            ("capture", capture_s),
            ("pre", pre_s),
            ("infer", infer_s),
            ("post", post_done - started),
            ("render", done - post_done),
            ("end_to_end", done - frame.captured),
        ):
            self.stats.add(stage, seconds)
        self.stats.frame_done()
