"""Live outputs (a page, a network stream, ROS 2 topics, a broker): each on its own thread, newest frame only.

A live output must never slow inference or another output. So the run loop does not call it: it offers each
finished record to a one-frame slot, replacing a record the output has not taken yet (counted as skipped), and
the output's own thread takes the newest one when it is ready. The rule when one fails (docs/architecture.md,
"The run loop"): a live output that raises is closed and reported, and the run goes on; a lossless output that
raises stops the run, because every later frame would be lost.
"""

from __future__ import annotations

import threading
from typing import Callable

from edgeseg.errors import describe
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.sinks import RecordDropped, Sink
from edgeseg.runtime.stats import ConsumerStats


def note_drop(stats: ConsumerStats, exc: RecordDropped, warn: Callable[[str], None]) -> None:
    """Count a record an output dropped, and say so the 1st, 10th, 100th… time."""
    reason = str(exc) or type(exc).__name__
    if stats.drop(reason):
        warn(f"warning: output {stats.name} dropped {stats.dropped} record(s) so far ({reason}); the run goes on")


class LiveOutput:
    """`sink` behind a newest-value slot and a thread of its own."""

    def __init__(self, sink: Sink, stats: ConsumerStats, warn: Callable[[str], None]) -> None:
        self.sink, self.stats, self.warn = sink, stats, warn
        self.every = max(1, int(getattr(sink, "every", 1)))  # offered the 1st, (N+1)th, … finished frame
        self._offered = 0
        self._slot: FrameRecord | None = None
        self._ready = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name=f"output {sink.name}", daemon=True)
        self._thread.start()

    def offer(self, record: FrameRecord) -> None:
        """Hand over the newest record; never waits. An unread older record is skipped."""
        self._offered += 1
        if (self._offered - 1) % self.every:
            return  # not one of every Nth: neither offered nor counted
        with self._ready:
            if self.stats.failed is not None or self._closing:
                return
            if self._slot is not None:
                self.stats.skipped += 1
            self._slot = record
            self._ready.notify()

    def _take(self) -> FrameRecord | None:
        with self._ready:
            while self._slot is None and not self._closing:
                self._ready.wait()
            record, self._slot = self._slot, None
            return record

    def _serve(self) -> None:
        while True:
            record = self._take()
            if record is None:
                return
            try:
                self.sink.write(record)
            except RecordDropped as exc:
                note_drop(self.stats, exc, self.warn)
                continue
            except Exception as exc:
                self._fail(exc)
                return
            self.stats.written += 1

    def _fail(self, exc: BaseException) -> None:
        self.stats.failed = describe(exc)
        self.warn(f"warning: output {self.sink.name} stopped ({self.stats.failed}); the run goes on without it")
        self._close_sink()

    def _close_sink(self) -> None:
        try:
            self.sink.close()
        except Exception as exc:
            if self.stats.failed is None:
                self.stats.failed = f"closing: {describe(exc)}"

    def close(self, timeout: float = 2.0) -> None:
        """Let the output finish the frame it holds and the newest one waiting (the run's last result: a file
        source's last frame is published too), then close it; an output that hangs is left behind."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)
        with self._ready:
            if self._slot is not None:  # never taken: the output hung on the one before
                self.stats.skipped += 1
                self._slot = None
        if self._thread.is_alive():  # closing under a write in progress could crash it: leave it to exit
            self.stats.failed = self.stats.failed or f"still writing {timeout:g} s after the run ended; left behind"
        elif self.stats.failed is None:
            self._close_sink()
