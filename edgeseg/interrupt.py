"""Ctrl-C as a request to stop at the next safe point, not an exception wherever the code happens to be.

Training: an interrupt that landed mid-step would leave the weights, the optimizer and the RNG out of
step with the recorded position, and a resumed run would not repeat the uninterrupted one exactly.
Running: one that landed between writing a frame and counting it would make the report disagree with
the video. So the first Ctrl-C only sets `requested`; the loop stops at its next boundary. A second
Ctrl-C raises KeyboardInterrupt at once.

SIGTERM, what `docker stop`, systemd and `timeout` send, is treated the same way: a service stopped that
way finalizes its video and saves last.pt as it would on Ctrl-C.

Both signals often reach every process of the group: a terminal's Ctrl-C, and SIGTERM from systemd's default
kill mode, `timeout` or `kill -TERM -PGID`. DataLoader workers are in that group; killed, they take the run
down with "DataLoader worker exited unexpectedly" before the main process can save last.pt. So workers leave
both signals to the main process (`ignore_interrupts_in_worker`), and are started with them held
(`stop_signals_held`), so one arriving while a worker starts cannot kill it either.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Callable


class StopRequested(Exception):
    """Raised by a loop at its boundary after a Ctrl-C."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnInterrupt:
    """Within the block, Ctrl-C (SIGINT) or SIGTERM sets `requested` and calls `on_request`.

    escalate: a second signal raises KeyboardInterrupt (training: stop now, last.pt is saved by the caller).
    Without it (the run loop) later signals only say that the outputs are being closed: what a video needs to be
    playable must not be cut short, and the loop finishes that within about a second.
    """

    def __init__(
        self,
        message: str = "Ctrl-C: stopping (press again to stop now)",
        *,
        on_request: Callable[[], None] | None = None,
        escalate: bool = True,
    ) -> None:
        self.requested = False
        self.message = message
        self.on_request, self.escalate = on_request, escalate
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            if previous is not None:  # None: a handler set outside Python, which cannot be put back
                signal.signal(sig, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            if self.escalate:
                raise KeyboardInterrupt
            print("\nstill closing the outputs; a moment", file=sys.stderr)
            return
        self.requested = True
        message = self.message if signum == signal.SIGINT else self.message.replace("Ctrl-C", "SIGTERM")
        print(f"\n{message}", file=sys.stderr)
        if self.on_request is not None:
            # On its own thread: the handler runs between two bytecodes of the main thread, which may hold a lock
            # that on_request takes (an Event's); taking it here would deadlock.
            threading.Thread(target=self.on_request, name="stop request", daemon=True).start()


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM wait (blocked in this thread) and arrive when it ends.

    A process forked inside starts with them blocked: wrap the start of DataLoader workers in it, so that
    neither can kill a worker before its worker_init_fn has decided what to do with them.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks (and no fork)
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_interrupts_in_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: Ctrl-C and SIGTERM sent to the whole process group are the main process's.

    SIGINT is ignored. SIGTERM is ignored unless the worker's parent sends it: torch's own shutdown and
    multiprocessing's exit end a worker that will not stop that way, as torch's worker handler allows (and
    multiprocessing would otherwise wait on such a worker for ever). Telling who sent it takes sigwaitinfo, so
    SIGTERM stays blocked and a thread of the worker takes each one; without sigwaitinfo (macOS) it is ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not hasattr(signal, "pthread_sigmask"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return
    if hasattr(signal, "sigwaitinfo"):
        # Still single-threaded here (torch starts no thread before worker_init_fn): blocked in this thread,
        # SIGTERM is blocked in every thread the worker starts later, so only the waiter receives it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        threading.Thread(target=_end_on_parents_sigterm, args=(os.getppid(),), daemon=True).start()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    else:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _end_on_parents_sigterm(parent: int) -> None:
    """A worker's SIGTERM waiter: the parent's SIGTERM ends the worker (as torch's handler does), others go."""
    while True:
        info = signal.sigwaitinfo({signal.SIGTERM})
        if info.si_pid == parent:
            os._exit(0)
