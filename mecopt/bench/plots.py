"""The plots: bars-<objective>.png (mean value per method, with its spread) and
gap-vs-time.png (every run's gap against its wall time)."""

from __future__ import annotations

import io
import statistics
from collections.abc import Sequence
from pathlib import Path

from mecopt.bench.journal import write_atomic
from mecopt.bench.row import Row


def write_plots(rows: Sequence[Row], out: str | Path) -> list[Path]:
    """bars-<objective>.png per objective present (mean value per method with its standard
    deviation, like the paper's Figs 5 and 6) and gap-vs-time.png (log time axis)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    out = Path(out)
    written = []
    objectives = list(dict.fromkeys(r.objective for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for obj in objectives:
        fig = Figure(figsize=(max(4.5, 0.9 * len(methods) + 1.5), 3.8), layout="constrained")
        ax = fig.add_subplot()
        _bars(ax, [r for r in rows if r.objective == obj], methods, colors, obj)
        path = out / f"bars-{obj}.png"
        _save(fig, path)
        written.append(path)
    fig = Figure(figsize=(5.2 * max(1, len(objectives)), 4.0), layout="constrained")
    for k, obj in enumerate(objectives):
        ax = fig.add_subplot(1, len(objectives), k + 1)
        _scatter(ax, [r for r in rows if r.objective == obj], methods, colors, obj)
    path = out / "gap-vs-time.png"
    _save(fig, path)
    written.append(path)
    return written


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    write_atomic(path, buf.getvalue())


def _bars(ax, rows: Sequence[Row], methods, colors, obj: str) -> None:
    import numpy as np

    labels, means, stds, notes = [], [], [], []
    for m in methods:
        rs = [r for r in rows if r.method == m]
        if not rs:
            continue
        values = np.array([r.objective_value for r in rs if r.feasible], dtype=float)
        labels.append(m)
        means.append(values.mean() if len(values) else np.nan)
        stds.append(values.std() if len(values) else 0.0)
        share = len(values) / len(rs)
        notes.append("" if share == 1 else f"{share:.0%} feasible")
    x = np.arange(len(labels))
    ax.bar(x, np.nan_to_num(means), yerr=stds, capsize=4,
           color=[colors[m] for m in labels], edgecolor="black", linewidth=0.5)
    for xi, mean, std, note in zip(x, means, stds, notes, strict=True):
        if np.isfinite(mean):
            ax.annotate(f"{mean:.4g}", (xi, mean + std), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
        text = "none feasible" if not np.isfinite(mean) else note
        if text:  # inside the bar's foot, clear of the error bar
            ax.annotate(text, (xi, 0), ha="center", va="bottom", fontsize=7, rotation=90,
                        xytext=(0, 4), textcoords="offset points")
    ax.set_xticks(x, labels, rotation=30 if len(labels) > 5 else 0, ha="right"
                  if len(labels) > 5 else "center")
    ax.set_ylabel("mean latency per UE [s]" if obj == "latency" else "total UE energy [J]")
    ax.set_title(f"Minimum {obj} (mean ± std over feasible runs)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _scatter(ax, rows: Sequence[Row], methods, colors, obj: str) -> None:
    for m in methods:
        rs = [r for r in rows if r.method == m and r.gap is not None]
        if not rs:
            continue
        t = [max(r.wall_time_s, 1e-4) for r in rs]  # log axis: clamp zero times
        g = [100 * r.gap for r in rs]
        ax.scatter(t, g, s=12, alpha=0.5, color=colors[m], label=m)
        ax.scatter([statistics.median(t)], [statistics.fmean(g)], s=90, marker="D",
                   color=colors[m], edgecolor="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=0.1)  # gaps span 0 to thousands of percent
    gaps = [100 * r.gap for r in rows if r.gap is not None]
    if gaps:  # room above the top diamond; no negative half when no gap is negative
        ax.set_ylim(bottom=-0.01 if min(gaps) >= 0 else None, top=max(1.0, max(gaps)) * 3)
    bases = {r.gap_basis for r in rows if r.gap is not None}
    ax.set_xlabel("wall time per run [s]")
    ax.set_ylabel(f"gap to {' / '.join(sorted(bases)) or 'best known'} [%]")
    ax.set_title(f"Minimum {obj} (diamond: median time, mean gap)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")

