"""DataLoaders whose worker processes leave Ctrl-C and SIGTERM to the main process (see edgeseg/interrupt.py)."""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader

from edgeseg.interrupt import ignore_interrupts_in_worker, stop_signals_held


class SignalSafeLoader(DataLoader):
    """A DataLoader whose workers ignore the SIGINT and SIGTERM sent to the whole process group.

    Workers start with both signals held and decide in their worker_init_fn; the main process handles them
    (stops at the next step and saves last.pt) and shuts its workers down itself.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("worker_init_fn") is not None:
            raise ValueError("SignalSafeLoader sets its own worker_init_fn")
        super().__init__(*args, **{**kwargs, "worker_init_fn": ignore_interrupts_in_worker})

    def __iter__(self) -> Any:
        with stop_signals_held():  # the workers are forked here (every epoch, without persistent workers)
            return super().__iter__()
