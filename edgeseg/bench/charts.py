"""PNG charts of a results document: latency per backend, and what the transposed decoder costs.

Linear axes throughout, so a bar twice as long is twice the cost, with the value (or the ratio) written beside
each bar; legends sit outside the axes, where they cover no bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.atomic import atomic_path
from edgeseg.errors import require

DECODERS = ("bilinear", "transposed")
COLOURS = {"bilinear": "#4c72b0", "transposed": "#dd8452"}


def _unique(items: Any) -> list[Any]:
    return list(dict.fromkeys(items))


def network(row: dict[str, Any]) -> str:
    """The model and, where it has two, its head: what one group of bars stands for."""
    return f"{row['model']}\n({row['head']})" if row.get("head") else row["model"]


def series(row: dict[str, Any]) -> str:
    """The backend and, for an exported model, what it returns: one colour of bars."""
    if "output" not in row or row["backend"].startswith("torch"):  # PyTorch returns logits; older results say nothing
        return row["backend"]
    return f"{row['backend']}, {row['output']} out"


def _ms(value: float) -> str:
    if np.isnan(value):
        return ""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _save(figure: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def latency_chart(rows: list[dict[str, Any]], size: int, path: Path) -> None:
    """p50 latency of every model × head × upsample (one group each), one bar per backend and output kind."""
    plt = _pyplot()
    rows = [r for r in rows if r["size"] == size]
    groups = _unique((network(r), r["upsample"]) for r in rows)
    kinds = _unique(series(r) for r in rows)
    index = {(network(r), r["upsample"], series(r)): r["p50_ms"] for r in rows}
    height = 0.8 / len(kinds)
    figure, axes = plt.subplots(figsize=(9, 1.0 + 0.22 * len(groups) * max(3, len(kinds))))
    for k, kind in enumerate(kinds):
        values = [index.get((*g, kind), np.nan) for g in groups]
        bars = axes.barh(np.arange(len(groups)) + k * height, values, height, label=kind)
        axes.bar_label(bars, labels=[_ms(v) for v in values], padding=2, fontsize=7)
    axes.set_yticks(np.arange(len(groups)) + height * (len(kinds) - 1) / 2)
    axes.set_yticklabels([f"{n}, {u}" for n, u in groups], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 1.15 * max(index.values()))
    axes.set_xlabel("p50 latency, ms (shorter is faster)")
    axes.set_title(f"Latency at {size}×{size}, batch {rows[0]['batch']}")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="backend", title_fontsize=8)
    axes.grid(axis="x", alpha=0.3)
    _save(figure, path)
    plt.close(figure)


def decoder_panels(rows: list[dict[str, Any]]) -> list[tuple[str, dict[tuple[str, str], float]]]:
    """(title, value per (network, decoder)) for each measure: parameters, GFLOPs, then p50 latency per backend."""
    panels = [
        ("Parameters, millions", {(network(r), r["upsample"]): r["params_m"] for r in rows}),
        ("GFLOPs", {(network(r), r["upsample"]): r["gflops"] for r in rows}),
    ]
    for kind in _unique(series(r) for r in rows):
        latency = {(network(r), r["upsample"]): r["p50_ms"] for r in rows if series(r) == kind}
        panels.append((f"p50 ms, {kind}", latency))
    return panels


def decoder_chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Bilinear vs transposed at the largest size: one panel per measure, a pair of bars per network, the
    transposed bar labelled with its ratio to the bilinear one."""
    plt = _pyplot()
    size = max(r["size"] for r in rows)
    rows = [r for r in rows if r["size"] == size]
    networks = _unique(network(r) for r in rows)
    panels = decoder_panels(rows)
    columns = min(5, len(panels))
    lines = -(-len(panels) // columns)
    figure, grid = plt.subplots(
        lines, columns, sharey=True, squeeze=False, figsize=(3.2 * columns, lines * (0.8 + 0.55 * len(networks)))
    )
    y = np.arange(len(networks))
    for axes, (title, values) in zip(grid.flat, panels):
        pair = {mode: np.array([values.get((n, mode), np.nan) for n in networks]) for mode in DECODERS}
        for k, mode in enumerate(DECODERS):
            bars = axes.barh(y + 0.4 * k, pair[mode], 0.4, color=COLOURS[mode], label=mode)
        ratios = pair["transposed"] / pair["bilinear"]
        axes.bar_label(bars, labels=["" if np.isnan(q) else f"{q:.2f}×" for q in ratios], padding=2, fontsize=7)
        axes.set_xlim(0, 1.3 * np.nanmax([*pair["bilinear"], *pair["transposed"]]))
        axes.set_title(title, fontsize=9)
        axes.tick_params(labelsize=7)
        axes.grid(axis="x", alpha=0.3)
    for axes in grid.flat[len(panels) :]:
        axes.set_visible(False)
    grid[0][0].set_yticks(y + 0.2)
    grid[0][0].set_yticklabels(networks)
    grid[0][0].invert_yaxis()
    handles, labels = grid[0][0].get_legend_handles_labels()
    labels = [f"{label} (labelled: ÷ bilinear)" if label == "transposed" else label for label in labels]
    figure.suptitle(f"Bilinear vs transposed decoders at {size}×{size}")
    figure.tight_layout()
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
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
    if {r["upsample"] for r in rows} == set(DECODERS):
        names.append("decoders.png")
        decoder_chart(rows, folder / names[-1])
    return names
