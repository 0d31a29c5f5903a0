"""Matplotlib figures for the quality report, returned as base64 PNG strings for inline embedding."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _figure(width: float = 7.0, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def long_tail_png(level: str, counts: Sequence[int], min_count: int = 5) -> str:
    """Class sizes of one label level, largest first, on a log scale; the rare-class threshold dashed."""
    fig, ax = _figure()
    y = np.sort(np.asarray(counts, dtype=float))[::-1]
    x = np.arange(1, len(y) + 1)
    ax.bar(x, y, width=1.0, color=np.where(y < min_count, "#d62728", "#1f77b4"))
    ax.set_yscale("log")
    ax.axhline(min_count, color="#444", linestyle="--", linewidth=1, label=f"{min_count} examples")
    ax.set_xlabel("class rank")
    ax.set_ylabel("examples (log)")
    ax.set_title(f"{level}: {len(y)} classes, {(y < min_count).sum()} with < {min_count} examples")
    ax.legend(loc="upper right")
    return _png(fig)


def length_hist_png(column: str, counts: Sequence[int], edges: Sequence[float]) -> str:
    """Histogram of text lengths (characters) of one column, log-spaced bins."""
    fig, ax = _figure()
    e = np.asarray(edges, dtype=float)
    ax.bar(e[:-1], np.asarray(counts), width=np.diff(e), align="edge", color="#2ca02c", edgecolor="white")
    ax.set_xscale("log")
    ax.set_xlabel("length in characters (log)")
    ax.set_ylabel("rows")
    ax.set_title(f"{column}: text length")
    return _png(fig)


def missingness_png(shares: Mapping[str, float]) -> str:
    """Share of rows lacking a value, per column."""
    names = list(shares)
    fig, ax = _figure(height=max(2.0, 0.3 * len(names) + 1.0))
    values = [100 * shares[n] for n in names][::-1]
    bars = ax.barh(names[::-1], values, color="#ff7f0e")
    ax.bar_label(bars, labels=[f"{v:.1f}%" for v in values], padding=3, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of rows missing, empty or placeholder")
    ax.set_title("Missing values by column")
    return _png(fig)
