"""Frames from several capture threads gathered into one inference: one slot per stream, batches across streams.

Each stream's capture thread puts its prepared frames in its own slot: a live stream keeps only its newest
frame (the stale one is handed back, to be counted as dropped), a file stream waits for room, so none of its
frames is lost. The inference thread takes a batch: it waits for the first frame, then at most `timeout`
seconds for the other streams that are still running to have one, and goes with what it has. So a stream that
stalls or drops out delays the others by at most one timeout, and never blocks them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
_POLL = 0.05  # seconds between checks of the stop flag while waiting


class StreamSlots(Generic[Item]):
    """The frames waiting for inference, per stream."""

    def __init__(self, live: Sequence[bool], depth: int, stop: threading.Event) -> None:
        self.live = list(live)
        self._depth = [1 if is_live else depth for is_live in self.live]
        self._queues: list[deque[Item]] = [deque() for _ in self.live]
        self._open = [True] * len(self.live)
        self._next = 0  # where the next batch starts: streams take turns when a batch cannot hold them all
        self._ready = threading.Condition()
        self.stop = stop

    def put(self, stream: int, item: Item) -> tuple[bool, Item | None]:
        """Add a stream's newest frame: (False, None) if the run stopped first; else (True, the stale frame a live
        stream's slot held, now replaced, or None)."""
        with self._ready:
            queue = self._queues[stream]
            stale = None
            if self.live[stream] and queue:
                stale = queue.popleft()
            while len(queue) >= self._depth[stream]:
                if self.stop.is_set():
                    return False, None
                self._ready.wait(_POLL)
            queue.append(item)
            self._ready.notify_all()
            return True, stale

    def end(self, stream: int) -> None:
        """The stream has no more frames (its source ended or failed)."""
        with self._ready:
            self._open[stream] = False
            self._ready.notify_all()

    def take(self, size: int, timeout: float) -> list[Item] | None:
        """Up to `size` frames, at most one per stream; None once every stream has ended and been emptied (or the
        run stopped)."""
        with self._ready:
            while not any(self._queues):
                if self.stop.is_set() or not any(self._open):
                    return None
                self._ready.wait(_POLL)
            deadline = time.monotonic() + timeout
            while not self.stop.is_set() and self._waiting_for(size) and time.monotonic() < deadline:
                self._ready.wait(min(_POLL, max(0.0, deadline - time.monotonic())))
            batch = []
            count = len(self._queues)
            for offset in range(count):
                stream = (self._next + offset) % count
                if self._queues[stream]:
                    batch.append(self._queues[stream].popleft())
                    if len(batch) == size:
                        self._next = (stream + 1) % count
                        break
            self._ready.notify_all()  # room for the file streams waiting to put
            return batch

    def _waiting_for(self, size: int) -> bool:
        """Whether a running stream has no frame yet and the batch has room for it."""
        ready = sum(1 for queue in self._queues if queue)
        missing = any(is_open and not queue for is_open, queue in zip(self._open, self._queues))
        return ready < size and missing

    def pending(self, stream: int) -> int:
        with self._ready:
            return len(self._queues[stream])
