"""Ctrl-C during training: finish the current step, save last.pt, and stop.

An interrupt that landed mid-step would leave the weights, the optimizer and the RNG out of step
with the recorded position, and a resumed run would not repeat the uninterrupted one exactly; so the
first Ctrl-C only asks the loop to stop at the next step boundary. A second one stops at once,
without saving (the last.pt of the previous epoch stays as it was).
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType


class StopRequested(Exception):
    """Raised by the training loop at a step boundary after a Ctrl-C."""


class StopOnInterrupt:
    def __init__(self) -> None:
        self.requested = False
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
        print("\nCtrl-C: stopping after this step to save last.pt (press again to stop now)", file=sys.stderr)


def ignore_interrupts_in_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: a terminal's Ctrl-C reaches the workers too; the main process handles it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
