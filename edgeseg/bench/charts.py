"""PNG charts of a results document: latency per backend, and what the transposed decoder costs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.atomic import atomic_path
from edgeseg.errors import require


def _log_axis(axes: Any) -> None:
    """Log-scaled latency labelled 100, 200, 500, 1000 … in plain numbers."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.xaxis.set_minor_formatter(NullFormatter())


def _save(figure: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def latency_chart(rows: list[dict[str, Any]], size: int, path: Path) -> None:
    """p50 latency of every model × upsample (one group each), one bar per backend, log scale."""
    plt = _pyplot()
    rows = [r for r in rows if r["size"] == size and "error" not in r]
    groups = list(dict.fromkeys((r["model"], r["upsample"]) for r in rows))
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    index = {(r["model"], r["upsample"], r["backend"]): r["p50_ms"] for r in rows}
    height = 0.8 / len(backends)
    figure, axes = plt.subplots(figsize=(9, 0.5 + 0.45 * len(groups) * max(1, len(backends) / 2)))
    for k, backend in enumerate(backends):
        values = [index.get((*g, backend), np.nan) for g in groups]
        axes.barh(np.arange(len(groups)) + k * height, values, height, label=backend)
    axes.set_yticks(np.arange(len(groups)) + height * (len(backends) - 1) / 2)
    axes.set_yticklabels([f"{m}\n{u}" for m, u in groups], fontsize=8)
    axes.invert_yaxis()
    _log_axis(axes)
    axes.set_xlabel("p50 latency, ms (log scale)")
    axes.set_title(f"Latency at {size}×{size}, batch {rows[0]['batch']}")
    axes.legend(fontsize=8)
    axes.grid(axis="x", which="both", alpha=0.3)
    _save(figure, path)
    plt.close(figure)


def decoder_chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Bilinear vs transposed: parameters per model, and p50 latency per model × backend at the largest size."""
    plt = _pyplot()
    rows = [r for r in rows if "error" not in r]
    size = max(r["size"] for r in rows)
    models = list(dict.fromkeys(r["model"] for r in rows))
    params = {(r["model"], r["upsample"]): r["params_m"] for r in rows}
    latency = {(r["model"], r["backend"], r["upsample"]): r["p50_ms"] for r in rows if r["size"] == size}
    pairs = list(dict.fromkeys((m, b) for m, b, _ in latency))
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 1 + 0.5 * max(len(models), len(pairs))))
    for k, mode in enumerate(("bilinear", "transposed")):
        left.barh(np.arange(len(models)) + k * 0.4, [params.get((m, mode), np.nan) for m in models], 0.4, label=mode)
        right.barh(np.arange(len(pairs)) + k * 0.4, [latency.get((*p, mode), np.nan) for p in pairs], 0.4, label=mode)
    left.set_yticks(np.arange(len(models)) + 0.2)
    left.set_yticklabels(models, fontsize=8)
    left.set_xlabel("parameters, millions")
    left.set_title("Parameters")
    right.set_yticks(np.arange(len(pairs)) + 0.2)
    right.set_yticklabels([f"{m}\n{b}" for m, b in pairs], fontsize=7)
    _log_axis(right)
    right.set_xlabel("p50 latency, ms (log scale)")
    right.set_title(f"Latency at {size}×{size}")
    for axes in (left, right):
        axes.invert_yaxis()
        axes.legend(fontsize=8, loc="lower right")
        axes.grid(axis="x", alpha=0.3)
    _save(figure, path)
    plt.close(figure)


def _pyplot() -> Any:
    matplotlib = require("matplotlib", extra="train")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_charts(results: dict[str, Any], folder: Path) -> list[str]:
    """Every chart for `results` into `folder`; returns their file names (for the report's links)."""
    rows = [r for r in results["rows"] if "error" not in r]
    if not rows:
        return []
    names = []
    for size in sorted({r["size"] for r in rows}):
        names.append(f"latency_{size}.png")
        latency_chart(rows, size, folder / names[-1])
    if {r["upsample"] for r in rows} == {"bilinear", "transposed"}:
        names.append("decoders.png")
        decoder_chart(rows, folder / names[-1])
    return names
