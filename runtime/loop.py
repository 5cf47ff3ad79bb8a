"""The run loop: the data path of `edgeseg run` in threads, one per source, one for inference, one per live output.

    capture → prepare    (thread "capture N" per source: read a frame, letterbox and normalize it)
    infer                (thread "infer": one batch of the streams' newest frames through the network)
    finish → write       (the calling thread: class mask, one FrameRecord, every output)

A `Packet` carries one frame through the stages; bounded slots and queues join the threads, so the accelerator
never waits on the CPU work and memory stays bounded. Live sources keep only the newest frame: when inference
falls behind, the stale packet waiting in the slot is replaced (and counted as dropped), so what is shown is
never old. File sources block instead: every frame is processed. Several sources are several streams: their
frames go through the network together (`runtime/batcher.py`), and everything after inference is per stream.

Lossless outputs (a video, a folder, a window) are called in turn with each record; live outputs (network
streams, pages, topics) sit behind `LiveOutput` and skip frames instead. A stage that fails stops the run: the
other threads stop within a second, every output is closed (a video is finalized), and `run()` raises one
`RunFailed` line naming the stage (docs/architecture.md, "The run loop").
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

from edgeseg.errors import EdgesegError, describe
from edgeseg.interrupt import StopOnInterrupt
from edgeseg.runtime.batcher import StreamSlots
from edgeseg.runtime.live import LiveOutput, note_drop
from edgeseg.runtime.preprocess import Placement
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.segmenter import NetworkOutput, Segmenter
from edgeseg.runtime.sinks import RecordDropped, Sink, WindowClosed
from edgeseg.runtime.sources import Frame, Source
from edgeseg.runtime.stats import ConsumerStats, RunStats

_POLL = 0.05  # seconds between checks of the stop flag while waiting on a queue
_JOIN_S = 1.0  # how long, in all, the loop waits for its threads once it stops (a read can hang for 30 s)


class _End:
    """The marker a stage puts after its last packet."""


_END = _End()
_Item = Union["Packet", _End]


class RunFailed(EdgesegError):
    """A stage of the run failed on the user's input or environment (a camera, a disk, an engine)."""


@dataclass
class Packet:
    """One frame on its way through the loop; each stage fills in its part and its time."""

    stream: int  # which source
    frame: Frame
    tensor: np.ndarray  # the network input (prepare)
    placement: Placement  # where the frame sits in that input, to undo it (prepare)
    output: NetworkOutput | None = None  # logits or class map, and the graph's confidence if any (infer)
    seconds: dict[str, float] = field(default_factory=dict)  # stage → time it took, in stage order


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _takes(sink: Sink, record: FrameRecord) -> bool:
    """Whether `sink` wants this record: every stream's, or (its `stream` attribute) one stream's."""
    wanted = getattr(sink, "stream", None)
    return wanted is None or wanted == record.stream


def one_line(exc: BaseException) -> str:
    """What went wrong, for a person: an EdgesegError's own message, an OSError's cause and path."""
    if isinstance(exc, EdgesegError):
        return str(exc)
    if isinstance(exc, OSError):
        from edgeseg.writable import cause

        return f"{cause(exc)}: {exc.filename}" if exc.filename else cause(exc)
    return describe(exc)


class RunLoop:
    """`source → segmenter → outputs`, pipelined; `run()` returns the run's statistics."""

    def __init__(
        self,
        sources: Source | Sequence[Source],
        segmenter: Segmenter,
        renderer: Renderer,
        sinks: Sequence[Sink],
        *,
        max_frames: int | None = None,
        queue_size: int = 2,
        banner: bool = True,
        warn: Callable[[str], None] = _stderr,
        names: Sequence[str] | None = None,
        batch_timeout: float | None = None,
    ) -> None:
        """sources: one, or several (streams, batched into one inference); names: one per stream, for the stats.

        max_frames: per stream. batch_timeout: how long a batch waits for the streams that have no frame yet
        (default: one frame time of the fastest source).
        """
        self.sources = list(sources) if isinstance(sources, Sequence) else [sources]
        self.segmenter, self.renderer = segmenter, renderer
        self.max_frames, self.banner, self.warn = max_frames, banner, warn
        count = len(self.sources)
        names = list(names or (["stream"] if count == 1 else [f"stream {k}" for k in range(count)]))
        self.stats = RunStats([(name, "") for name in names])
        self.stop = threading.Event()
        self.slots: StreamSlots[Packet] = StreamSlots([s.live for s in self.sources], queue_size, self.stop)
        self.inferred: queue.Queue[_Item] = queue.Queue(maxsize=queue_size * len(self.sources))
        self.batch_size = min(len(self.sources), segmenter.max_batch or len(self.sources))
        fastest = max((source.fps or 30.0) for source in self.sources)
        self.batch_timeout = 1.0 / fastest if batch_timeout is None else batch_timeout
        self.sinks = list(sinks)
        self.outputs = {self._register(sink): sink for sink in self.sinks}
        # Confidence costs host time (a softmax over the logits): only when an output uses it.
        self.confidence = any(getattr(sink, "wants_confidence", False) for sink in self.sinks)
        if self.confidence:
            segmenter.require_confidence()
        self.failure: tuple[str, BaseException] | None = None
        self.stream_failures: dict[int, tuple[str, BaseException]] = {}
        self._failure_lock = threading.Lock()
        self._writing = "the"  # the output being written, named if it fails

    @property
    def source(self) -> Source:
        """The first (with one stream, the only) source."""
        return self.sources[0]

    def _register(self, sink: Sink) -> str:
        name, n = sink.name, 1
        while name in self.stats.consumers:  # two outputs of one kind: "video", "video 2"
            n += 1
            name = f"{sink.name} {n}"
        self.stats.consumers[name] = ConsumerStats(name, sink.live)
        return name

    # The stages, in data-path order: capture → prepare → infer → finish → write.

    def capture(self, stream: int) -> Iterator[Frame]:
        """A source's readable frames, up to max_frames or until the loop stops; unreadable ones are counted."""
        count = 0
        stats = self.stats.streams[stream]
        for frame in self.sources[stream]:
            stats.read += 1
            if frame.image is None:
                stats.skip_unreadable(frame.name)
                continue
            yield frame
            count += 1
            if self.stop.is_set() or (self.max_frames is not None and count >= self.max_frames):
                return

    def prepare(self, stream: int, frame: Frame, read_s: float) -> Packet:
        started = time.perf_counter()
        tensor, placement = self.segmenter.prepare(frame.image)
        seconds = {"capture": read_s, "pre": time.perf_counter() - started}
        return Packet(stream, frame, tensor, placement, seconds=seconds)

    def infer(self, batch: list[Packet]) -> list[Packet]:
        """One inference for the whole batch; each frame's infer time is the batch's."""
        started = time.perf_counter()
        outputs = self.segmenter.infer_batch([packet.tensor for packet in batch])
        seconds = time.perf_counter() - started
        for packet, output in zip(batch, outputs):
            packet.output, packet.seconds["infer"] = output, seconds
        return batch

    def finish(self, packet: Packet) -> FrameRecord:
        started = time.perf_counter()
        assert packet.output is not None  # the infer stage filled it
        if self.confidence:
            mask, confidence = self.segmenter.finish_with_confidence(packet.output, packet.placement)
        else:
            mask, confidence = self.segmenter.finish(packet.output.scores, packet.placement), None
        packet.seconds["post"] = time.perf_counter() - started
        banner = None
        if self.banner:
            fps = self.stats.current_fps(packet.stream)
            banner = f"{fps:.1f} FPS  infer {1000 * packet.seconds['infer']:.1f} ms"
        frame = packet.frame
        assert frame.image is not None  # unreadable frames never reach a packet
        return FrameRecord(
            packet.stream, frame.index, frame.name, frame.captured, frame.timestamp, frame.image, mask,
            packet.seconds, self.renderer, banner, confidence,
        )  # fmt: skip

    def write(self, record: FrameRecord, live: dict[str, LiveOutput]) -> None:
        started = time.perf_counter()
        for name, output in live.items():  # first: they work on their own threads while the files are written
            if _takes(self.outputs[name], record):
                output.offer(record)
        for name, sink in self.outputs.items():
            if not sink.live and _takes(sink, record):
                self._writing = name
                try:
                    sink.write(record)
                except RecordDropped as exc:
                    note_drop(self.stats.consumers[name], exc, self.warn)
                    continue
                self.stats.consumers[name].written += 1
        done = time.perf_counter()
        record.seconds.update(render=done - started, end_to_end=done - record.captured)
        self.stats.frame_done(record.seconds, record.stream)

    # The threads around the stages.

    def run(self) -> RunStats:
        """Process the source to its end, max_frames, q/Esc, a failure, Ctrl-C or SIGTERM; outputs always closed.

        Raises RunFailed (or, for a bug, the exception itself) after closing everything, when a stage failed;
        `self.stats` holds what was measured up to then either way.
        """
        live = {
            name: LiveOutput(sink, self.stats.consumers[name], self.warn)
            for name, sink in self.outputs.items()
            if sink.live
        }
        if len(self.sources) > 1 and self.batch_size == 1:
            self.warn(
                f"note: the model takes one image at a time (exported without --dynamic-batch): the "
                f"{len(self.sources)} streams take turns; export with --dynamic-batch to run them as one batch"
            )
        captures = [
            threading.Thread(target=self._capture_thread, args=(k,), name=f"capture {k}", daemon=True)
            for k in range(len(self.sources))
        ]
        threads = [*captures, threading.Thread(target=self._infer_thread, name="infer", daemon=True)]
        message = "Ctrl-C: finishing the current frame and closing the outputs"
        # The handler stays until the outputs are closed: a later signal cannot cut the video's finalization short.
        with StopOnInterrupt(message, on_request=self.request_stop, escalate=False) as interrupt:
            for thread in threads:
                thread.start()
            try:
                while not self.stop.is_set():
                    packet = self._get(self.inferred)
                    if isinstance(packet, _End):
                        break
                    self.write(self.finish(packet), live)
            except WindowClosed:
                pass
            except BaseException as exc:
                self._fail(f"{self._writing} output", exc)
            finally:
                self.request_stop()
                self._join(threads)
                self._close(live, captures)
                self.stats.interrupted = interrupt.requested
        failure = self.failure or next(iter(self.stream_failures.values()), None)
        if failure is not None:
            stage, exc = failure
            if isinstance(exc, (EdgesegError, OSError)):
                raise RunFailed(f"{stage}: {one_line(exc)}") from exc
            raise exc
        return self.stats

    def request_stop(self) -> None:
        """Stop at the next frame boundary; safe from any thread."""
        self.stop.set()
        for source in self.sources:
            source.interrupt()

    def _fail(self, stage: str, exc: BaseException) -> None:
        with self._failure_lock:
            if self.failure is None:
                self.failure = (stage, exc)
                self.stats.error = f"{stage}: {one_line(exc)}"
        self.request_stop()

    def _stream_failed(self, stream: int, exc: BaseException) -> None:
        """A source that fails ends its stream; the others go on (one stream: the run ends with it)."""
        stats = self.stats.streams[stream]
        stage = "capture" if len(self.sources) == 1 else f"capture of {stats.name}"
        stats.error = one_line(exc)
        with self._failure_lock:
            self.stream_failures[stream] = (stage, exc)
            if self.stats.error is None:
                self.stats.error = f"{stage}: {stats.error}"
        if len(self.sources) > 1:
            self.warn(f"warning: stream {stats.name} stopped ({stats.error}); the other streams go on")

    def _capture_thread(self, stream: int) -> None:
        try:
            frames = self.capture(stream)
            while True:
                started = time.perf_counter()
                frame = next(frames, None)
                if frame is None:
                    break
                accepted, stale = self.slots.put(stream, self.prepare(stream, frame, time.perf_counter() - started))
                if stale is not None:  # a live stream's frame replaced before inference took it
                    self.stats.streams[stream].dropped += 1
                if not accepted:
                    break
        except BaseException as exc:
            self._stream_failed(stream, exc)
        finally:
            self.slots.end(stream)

    def _infer_thread(self) -> None:
        try:
            while True:
                batch = self.slots.take(self.batch_size, self.batch_timeout)
                if batch is None:
                    break
                if not all(self._put(self.inferred, packet) for packet in self.infer(batch)):
                    break
        except BaseException as exc:
            self._fail("inference", exc)
        finally:
            self._put_end(self.inferred)

    def _join(self, threads: list[threading.Thread]) -> None:
        deadline = time.monotonic() + _JOIN_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _close(self, live: dict[str, LiveOutput], captures: list[threading.Thread]) -> None:
        """Close every output and source, each even when another fails; account for frames in flight."""
        self.stats.finished = time.perf_counter()
        for stats, source in zip(self.stats.streams, self.sources):
            in_flight = stats.read - stats.unreadable - stats.frames - stats.dropped
            stats.dropped += max(0, in_flight)  # read, but the run stopped before they were written
            stats.reopened = source.reopened
        for output in live.values():
            output.close()
        for name, sink in self.outputs.items():
            if not sink.live:
                try:
                    sink.close()
                except BaseException as exc:
                    self.stats.consumers[name].failed = f"closing: {one_line(exc)}"
                    self._fail(f"closing the {name} output", exc)
        for stats, source, capture in zip(self.stats.streams, self.sources, captures):
            if capture.is_alive():  # inside a read (a stalled stream): releasing it under the read could crash
                self.warn(f"warning: {stats.name} did not answer within a second; it closes when edgeseg exits")
                continue
            try:
                source.close()
            except BaseException as exc:
                self._fail("closing the source", exc)

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
                if self.stop.is_set():
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
