"""RunStats read from another thread while the run writes it (the page's /stats.json does this every second)."""

from __future__ import annotations

import sys
import threading

from edgeseg.runtime.stats import RunStats


def test_summary_and_current_fps_can_be_read_while_frames_are_counted():
    stats = RunStats()
    seconds = {"capture": 0.001, "pre": 0.002, "infer": 0.01, "post": 0.001, "render": 0.002, "end_to_end": 0.02}
    errors: list[BaseException] = []
    done = threading.Event()

    def count() -> None:
        for i in range(8_000):
            stats.frame_done({**seconds, f"extra {i % 200}": 0.001})  # stages appear while the reader iterates
        done.set()

    def read(what) -> None:
        try:
            while not done.is_set():
                what()
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read, args=(what,)) for what in (stats.summary, stats.current_fps)]
    threads = [threading.Thread(target=count), *readers]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a race shows at once, not once a day
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    assert stats.frames == 8_000
