"""Per-stage latency (p50/p95), throughput and frame accounting of a run."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np

STAGES = ("capture", "pre", "infer", "post", "render", "end_to_end")


class RunStats:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.started = time.perf_counter()
        self.finished: float | None = None
        self.frames = 0
        self.dropped = 0  # stale live frames replaced by newer ones
        self.unreadable = 0
        self.unreadable_files: list[str] = []  # their names, for the report
        self.reopened = 0
        self.interrupted = False
        self._recent: list[float] = []

    def add(self, stage: str, seconds: float) -> None:
        self.times[stage].append(seconds)

    def frame_done(self) -> None:
        self.frames += 1
        now = time.perf_counter()
        self._recent = [t for t in self._recent if now - t < 2.0] + [now]

    def current_fps(self) -> float:
        if len(self._recent) < 2:
            return 0.0
        return (len(self._recent) - 1) / max(self._recent[-1] - self._recent[0], 1e-9)

    def summary(self) -> dict[str, Any]:
        end = self.finished or time.perf_counter()
        seconds = end - self.started
        stages = {}
        for stage in STAGES:
            values = np.asarray(self.times.get(stage, []), dtype=np.float64) * 1000
            if values.size:
                stages[stage] = {
                    "p50_ms": round(float(np.percentile(values, 50)), 3),
                    "p95_ms": round(float(np.percentile(values, 95)), 3),
                    "mean_ms": round(float(values.mean()), 3),
                }
        return {
            "frames": self.frames,
            "seconds": round(seconds, 3),
            "fps": round(self.frames / seconds, 3) if seconds > 0 else 0.0,
            "dropped": self.dropped,
            "unreadable": self.unreadable,
            "unreadable_files": list(self.unreadable_files),
            "reopened": self.reopened,
            "interrupted": self.interrupted,
            "stages": stages,
        }

    def table(self) -> str:
        data = self.summary()
        lines = [
            f"{data['frames']} frames in {data['seconds']:.1f} s: {data['fps']:.1f} FPS end to end; "
            f"dropped {data['dropped']}, unreadable {data['unreadable']}, camera reopened {data['reopened']}",
            f"{'stage':<11}{'p50 ms':>9}{'p95 ms':>9}",
        ]
        for stage, values in data["stages"].items():
            lines.append(f"{stage:<11}{values['p50_ms']:>9.2f}{values['p95_ms']:>9.2f}")
        return "\n".join(lines)
