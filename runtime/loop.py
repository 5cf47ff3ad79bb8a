"""The run loop: the data path of `edgeseg run` in three threads.

    capture → prepare    (thread "capture": read a frame, letterbox and normalize it)
    infer                (thread "infer":   the backend runs the network)
    finish → render → write   (the calling thread: class mask, overlay, every sink)

A `Packet` carries one frame through the stages; bounded queues join the threads, so the accelerator never
waits on the CPU work and memory stays bounded. Live sources keep only the newest frame: when inference
falls behind, the stale packet waiting in the queue is replaced (and counted as dropped), so what is shown
is never old. File sources block instead: every frame is processed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from edgeseg.interrupt import StopOnInterrupt
from edgeseg.runtime.preprocess import Placement
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.segmenter import Segmenter
from edgeseg.runtime.sinks import Sink, WindowClosed
from edgeseg.runtime.sources import Frame, Source
from edgeseg.runtime.stats import RunStats

_POLL = 0.05  # seconds between checks of the stop flag while waiting on a queue


class _End:
    """The marker a stage puts after its last packet."""


_END = _End()
_Item = Union["Packet", _End]


@dataclass
class Packet:
    """One frame on its way through the loop; each stage fills in its part and its time."""

    frame: Frame
    tensor: np.ndarray  # the network input (prepare)
    placement: Placement  # where the frame sits in that input, to undo it (prepare)
    output: np.ndarray | None = None  # logits or class map (infer)
    seconds: dict[str, float] = field(default_factory=dict)  # stage → time it took, in stage order


class RunLoop:
    """`source → segmenter → renderer → sinks`, pipelined; `run()` returns the run's statistics."""

    def __init__(
        self,
        source: Source,
        segmenter: Segmenter,
        renderer: Renderer,
        sinks: Sequence[Sink],
        *,
        max_frames: int | None = None,
        queue_size: int = 2,
        banner: bool = True,
    ) -> None:
        self.source, self.segmenter, self.renderer, self.sinks = source, segmenter, renderer, list(sinks)
        self.max_frames, self.banner = max_frames, banner
        # Live: one slot, so a waiting frame is at most one inference old. Files: a little slack.
        self.prepared: queue.Queue[_Item] = queue.Queue(maxsize=1 if source.live else queue_size)
        self.inferred: queue.Queue[_Item] = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.stats = RunStats()

    # The stages, in data-path order: capture → prepare → infer → finish → render → write.

    def capture(self) -> Iterator[tuple[Frame, float]]:
        """The source's frames with the seconds each took to read, up to max_frames or until the loop stops."""
        frames = iter(self.source)
        count = 0
        while not self.stop.is_set() and (self.max_frames is None or count < self.max_frames):
            started = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                return
            count += 1
            yield frame, time.perf_counter() - started

    def prepare(self, frame: Frame, read_s: float) -> Packet:
        started = time.perf_counter()
        tensor, placement = self.segmenter.prepare(frame.image)
        return Packet(frame, tensor, placement, seconds={"capture": read_s, "pre": time.perf_counter() - started})

    def infer(self, packet: Packet) -> Packet:
        started = time.perf_counter()
        packet.output = self.segmenter.infer(packet.tensor)
        packet.seconds["infer"] = time.perf_counter() - started
        return packet

    def finish_render_write(self, packet: Packet) -> None:
        started = time.perf_counter()
        mask = self.segmenter.finish(packet.output, packet.placement)
        finished = time.perf_counter()
        banner = None
        if self.banner:
            banner = f"{self.stats.current_fps():.1f} FPS  infer {1000 * packet.seconds['infer']:.1f} ms"
        image = self.renderer.draw(packet.frame.image, mask, banner)
        for sink in self.sinks:
            sink.write(image, mask, packet.frame.name)
        done = time.perf_counter()
        packet.seconds.update(post=finished - started, render=done - finished, end_to_end=done - packet.frame.captured)
        for stage, seconds in packet.seconds.items():
            self.stats.add(stage, seconds)
        self.stats.frame_done()

    # The threads around the stages.

    def run(self) -> RunStats:
        """Process the source to its end, max_frames, q/Esc, an error, or Ctrl-C; sinks are always closed."""
        threads = [
            threading.Thread(target=self._capture_thread, name="capture", daemon=True),
            threading.Thread(target=self._infer_thread, name="infer", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            with StopOnInterrupt("Ctrl-C: finishing the current frame and closing the outputs") as interrupt:
                while not interrupt.requested:
                    packet = self._get(self.inferred)
                    if isinstance(packet, _End):
                        break
                    self.finish_render_write(packet)
                self.stats.interrupted = interrupt.requested
        except WindowClosed:
            pass
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, but still close the outputs
            self.stats.interrupted = True
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=10)
            self._close()
        if self.errors:
            raise self.errors[0]
        return self.stats

    def _capture_thread(self) -> None:
        try:
            for frame, read_s in self.capture():
                packet = self.prepare(frame, read_s)
                if self.source.live:
                    try:  # replace the stale packet instead of waiting behind it
                        self.prepared.get_nowait()
                        self.stats.dropped += 1
                    except queue.Empty:
                        pass
                if not self._put(self.prepared, packet):
                    break
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self._put_end(self.prepared)

    def _infer_thread(self) -> None:
        try:
            while True:
                packet = self._get(self.prepared)
                if isinstance(packet, _End) or not self._put(self.inferred, self.infer(packet)):
                    break
        except BaseException as exc:
            self.errors.append(exc)
            self.stop.set()
        finally:
            self._put_end(self.inferred)

    def _close(self) -> None:
        self.stats.finished = time.perf_counter()
        self.stats.unreadable_files = list(self.source.unreadable)
        self.stats.unreadable = len(self.stats.unreadable_files)
        self.stats.reopened = self.source.reopened
        for sink in self.sinks:
            sink.close()
        self.source.close()

    def _put(self, q: queue.Queue[_Item], item: _Item) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue[_Item]) -> _Item:
        while True:
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                if self.stop.is_set() and q.empty():
                    return _END

    def _put_end(self, q: queue.Queue[_Item]) -> None:
        while True:
            try:
                q.put(_END, timeout=_POLL)
                return
            except queue.Full:
                if self.stop.is_set():  # nobody reads any more: make room for the end marker
                    with contextlib.suppress(queue.Empty):
                        q.get_nowait()
