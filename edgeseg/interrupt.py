"""Ctrl-C as a request to stop at the next safe point, not an exception wherever the code happens to be.

Training: an interrupt that landed mid-step would leave the weights, the optimizer and the RNG out of
step with the recorded position, and a resumed run would not repeat the uninterrupted one exactly.
Running: one that landed between writing a frame and counting it would make the report disagree with
the video. So the first Ctrl-C only sets `requested`; the loop stops at its next boundary. A second
Ctrl-C raises KeyboardInterrupt at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType


class StopRequested(Exception):
    """Raised by a loop at its boundary after a Ctrl-C."""


class StopOnInterrupt:
    def __init__(self, message: str = "Ctrl-C: stopping (press again to stop now)") -> None:
        self.requested = False
        self.message = message
        self._previous = None

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{self.message}", file=sys.stderr)


def ignore_interrupts_in_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: a terminal's Ctrl-C reaches the workers too; the main process handles it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
