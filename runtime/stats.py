"""What a run measured, in fixed memory however long it lasts: per-stage latency, throughput, frame accounting.

A camera run can last for days (at 30 FPS, 2.6 million frames a day), so nothing here grows per frame:
latencies go into log-spaced histograms (`LatencySummary`), whose quantiles are within 0.5 % of the exact ones,
and the recent-FPS window is a fixed-size ring. docs/architecture.md, "The run loop", says what is counted where.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STAGES = ("capture", "pre", "infer", "post", "render", "end_to_end")

# 1 % wide buckets from 1 µs to ~3 h: 2 316 counters (18 KiB) per stage, whatever the run's length.
_LOW_S = 1e-6
_GROWTH = 1.01
_BUCKETS = int(math.log(1e4 / _LOW_S) / math.log(_GROWTH)) + 2
_UNREADABLE_NAMES = 100  # names kept for the report; the count goes on


class LatencySummary:
    """Count, mean, min, max and quantiles of durations in seconds, in constant memory."""

    def __init__(self) -> None:
        self.counts = np.zeros(_BUCKETS, np.int64)
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = 0.0

    def add(self, seconds: float) -> None:
        seconds = max(float(seconds), 0.0)
        self.counts[self._bucket(seconds)] += 1
        self.count += 1
        self.total += seconds
        self.low, self.high = min(self.low, seconds), max(self.high, seconds)

    @staticmethod
    def _bucket(seconds: float) -> int:
        if seconds <= _LOW_S:
            return 0
        return min(int(math.log(seconds / _LOW_S) / math.log(_GROWTH)) + 1, _BUCKETS - 1)

    def quantile(self, q: float) -> float:
        """The q-quantile (0–1) in seconds: the geometric middle of its bucket, clipped to the seen range."""
        if not self.count:
            return 0.0
        rank = q * (self.count - 1)
        bucket = int(np.searchsorted(np.cumsum(self.counts), rank, side="right"))
        middle = _LOW_S * _GROWTH ** (bucket - 0.5) if bucket else _LOW_S
        return min(max(middle, self.low), self.high)

    def since(self, earlier: LatencySummary) -> LatencySummary:
        """What was added after `earlier` (a copy taken then): one window of a long run."""
        window = LatencySummary()
        window.counts = self.counts - earlier.counts
        window.count = self.count - earlier.count
        window.total = self.total - earlier.total
        window.low, window.high = (self.low, self.high) if window.count else (math.inf, 0.0)
        return window

    def copy(self) -> LatencySummary:
        other = LatencySummary()
        other.counts = self.counts.copy()
        other.count, other.total, other.low, other.high = self.count, self.total, self.low, self.high
        return other

    def to_dict(self) -> dict[str, float]:
        return {
            "p50_ms": round(1000 * self.quantile(0.50), 3),
            "p95_ms": round(1000 * self.quantile(0.95), 3),
            "p99_ms": round(1000 * self.quantile(0.99), 3),
            "mean_ms": round(1000 * self.total / self.count, 3) if self.count else 0.0,
            "max_ms": round(1000 * self.high, 3),
        }


class RecentRate:
    """Events per second over the last `seconds`, from a ring of the latest timestamps (fixed memory)."""

    def __init__(self, seconds: float = 2.0, keep: int = 256) -> None:
        self.seconds = seconds
        self.times: deque[float] = deque(maxlen=keep)

    def tick(self, now: float) -> None:
        self.times.append(now)

    def rate(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        recent = [t for t in list(self.times) if now - t < self.seconds]  # copied at once: ticks come meanwhile
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)


@dataclass
class ConsumerStats:
    """One output of the run: what it wrote, what it skipped (live outputs only), and why it stopped."""

    name: str
    live: bool
    written: int = 0
    skipped: int = 0  # frames a live output passed over because a newer one was ready
    failed: str | None = None  # the one line that closed it
    dropped: int = 0  # records it took but could not deliver (RecordDropped: a broker away, a record that failed)
    last_drop: str | None = None  # why the latest one was dropped

    def drop(self, reason: str) -> bool:
        """Count one dropped record; True when it should be logged (the 1st, 10th, 100th…: a broker away for an
        hour at 30 FPS must not print 100 000 lines)."""
        self.dropped += 1
        self.last_drop = reason
        return math.log10(self.dropped).is_integer()

    def to_dict(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "written": self.written,
            "skipped": self.skipped,
            "dropped": self.dropped,
            "last_drop": self.last_drop,
            "failed": self.failed,
        }


def merged(summaries: Sequence[LatencySummary]) -> LatencySummary:
    total = LatencySummary()
    for summary in summaries:
        total.counts += summary.counts
        total.count += summary.count
        total.total += summary.total
        total.low, total.high = min(total.low, summary.low), max(total.high, summary.high)
    return total


@dataclass
class StreamStats:
    """One source of the run. Frame accounting: every frame it read is `unreadable` (skipped), `dropped` (a live
    frame replaced by a newer one, or one still in flight when the run stopped) or one of `frames` (finished and
    written): read = frames + dropped + unreadable."""

    name: str = "stream"
    source: str = ""
    stages: dict[str, LatencySummary] = field(default_factory=lambda: {s: LatencySummary() for s in STAGES})
    read: int = 0
    frames: int = 0
    dropped: int = 0
    unreadable: int = 0
    unreadable_files: list[str] = field(default_factory=list)  # the first names, for the report
    reopened: int = 0
    error: str | None = None  # the one line that ended this stream early
    recent: RecentRate = field(default_factory=RecentRate)

    def frame_done(self, seconds: dict[str, float]) -> None:
        for stage, value in seconds.items():
            self.stages.setdefault(stage, LatencySummary()).add(value)
        self.frames += 1
        self.recent.tick(time.perf_counter())

    def skip_unreadable(self, name: str) -> None:
        self.unreadable += 1
        if len(self.unreadable_files) < _UNREADABLE_NAMES:
            self.unreadable_files.append(name)

    def to_dict(self, seconds: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "frames": self.frames,
            "fps": round(self.frames / seconds, 3) if seconds > 0 else 0.0,
            "read": self.read,
            "dropped": self.dropped,
            "unreadable": self.unreadable,
            "reopened": self.reopened,
            "error": self.error,
            "stages": {stage: summary.to_dict() for stage, summary in list(self.stages.items()) if summary.count},
        }


class RunStats:
    """Everything `--stats-json` and the end-of-run table report: each stream's numbers, their totals, and each
    output's. With one stream the totals are that stream's."""

    def __init__(self, streams: Sequence[tuple[str, str]] = (("stream", ""),)) -> None:
        self.streams = [StreamStats(name, source) for name, source in streams]
        self.consumers: dict[str, ConsumerStats] = {}
        self.started = time.perf_counter()
        self.finished: float | None = None
        self.interrupted = False
        self.error: str | None = None  # the one line that stopped the run: "<stage>: <cause>"

    def _total(self, key: str) -> int:
        return sum(getattr(stream, key) for stream in self.streams)

    @property
    def read(self) -> int:
        return self._total("read")

    @property
    def frames(self) -> int:
        return self._total("frames")

    @property
    def dropped(self) -> int:
        return self._total("dropped")

    @property
    def unreadable(self) -> int:
        return self._total("unreadable")

    @property
    def reopened(self) -> int:
        return self._total("reopened")

    @property
    def unreadable_files(self) -> list[str]:
        names = [name for stream in self.streams for name in stream.unreadable_files]
        return names[:_UNREADABLE_NAMES]

    @property
    def stages(self) -> dict[str, LatencySummary]:
        """Every stream's latencies together."""
        if len(self.streams) == 1:
            return self.streams[0].stages
        names = dict.fromkeys(stage for stream in self.streams for stage in list(stream.stages))
        return {stage: merged([s.stages[stage] for s in self.streams if stage in s.stages]) for stage in names}

    def frame_done(self, seconds: dict[str, float], stream: int = 0) -> None:
        self.streams[stream].frame_done(seconds)

    def skip_unreadable(self, name: str, stream: int = 0) -> None:
        self.streams[stream].skip_unreadable(name)

    def current_fps(self, stream: int | None = None) -> float:
        """Frames per second over the last two seconds: one stream's, or all together."""
        if stream is not None:
            return self.streams[stream].recent.rate()
        return sum(s.recent.rate() for s in self.streams)

    def summary(self) -> dict[str, Any]:
        end = self.finished or time.perf_counter()
        seconds = end - self.started
        return {
            "frames": self.frames,
            "seconds": round(seconds, 3),
            "fps": round(self.frames / seconds, 3) if seconds > 0 else 0.0,
            "read": self.read,
            "dropped": self.dropped,
            "unreadable": self.unreadable,
            "unreadable_files": self.unreadable_files,
            "reopened": self.reopened,
            "interrupted": self.interrupted,
            "error": self.error,
            # list(…) copies in one step: the page's server reads this while the run adds to it.
            "stages": {stage: summary.to_dict() for stage, summary in list(self.stages.items()) if summary.count},
            "streams": [stream.to_dict(seconds) for stream in self.streams],
            "outputs": {name: consumer.to_dict() for name, consumer in list(self.consumers.items())},
        }

    def table(self) -> str:
        data = self.summary()
        lines = [
            f"{data['frames']} frames in {data['seconds']:.1f} s: {data['fps']:.1f} FPS end to end; "
            f"dropped {data['dropped']}, unreadable {data['unreadable']}, camera reopened {data['reopened']}",
        ]
        if len(self.streams) > 1:
            for stream in data["streams"]:
                state = f"; stopped: {stream['error']}" if stream["error"] else ""
                lines.append(
                    f"  {stream['name']}: {stream['frames']} frames, {stream['fps']:.1f} FPS, dropped "
                    f"{stream['dropped']}, unreadable {stream['unreadable']}, end to end p50 "
                    f"{stream['stages'].get('end_to_end', {}).get('p50_ms', 0):.1f} ms{state}"
                )
        lines.append(f"{'stage':<11}{'p50 ms':>9}{'p95 ms':>9}")
        for stage, values in data["stages"].items():
            lines.append(f"{stage:<11}{values['p50_ms']:>9.2f}{values['p95_ms']:>9.2f}")
        for name, consumer in self.consumers.items():
            if consumer.live or consumer.failed or consumer.dropped:
                state = f"failed: {consumer.failed}" if consumer.failed else "ok"
                dropped = f", dropped {consumer.dropped} ({consumer.last_drop})" if consumer.dropped else ""
                lines.append(f"output {name}: wrote {consumer.written}, skipped {consumer.skipped}{dropped}; {state}")
        return "\n".join(lines)
