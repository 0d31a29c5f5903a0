"""Shared benchmark plumbing: isolated measurement of wall time and peak RSS, machine info, tables."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import platform
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SKUTAG_SHARED_DATA", REPO.parent / "shared" / "data"))
OUT_DIR = Path(os.environ.get("SKUTAG_BENCH_OUT", REPO / "bench-out"))


@dataclass
class Measured:
    value: Any
    wall_s: float
    peak_rss_mb: float


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, float, float]:
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return value, wall, peak_mb


def measure(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Measured:
    """Run ``fn(*args, **kwargs)`` in a fresh process; return its value, wall time and peak RSS.

    ``fn`` must be a module-level function and its value picklable (it crosses a process boundary
    inside the benchmark only; nothing here is a user-facing file).
    """
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        value, wall, peak = pool.apply(_call, (fn, args, kwargs))
    return Measured(value=value, wall_s=wall, peak_rss_mb=peak)


def measure_here(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Measured:
    """Like :func:`measure` but in this process (quick runs: an interpreter start would dominate); the peak
    RSS is this process's peak so far, not the call's."""
    value, wall, peak = _call(fn, args, kwargs)
    return Measured(value=value, wall_s=wall, peak_rss_mb=peak)


def machine_info() -> dict[str, Any]:
    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = sorted(f for f in line.split(":", 1)[1].split() if f.startswith(("avx", "sse4", "fma")))
                break
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            platform.processor(),
        )
    except OSError:
        model = platform.processor()
    versions = {}
    for pkg in (
        "skutag",
        "numpy",
        "pandas",
        "scikit-learn",
        "scipy",
        "fasttext-wheel",
        "torch",
        "transformers",
        "datasketch",
        "ftfy",
        "selectolax",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[pkg] = metadata.version(pkg)
    mem_gb = None
    with contextlib.suppress(OSError, ValueError, StopIteration):
        line = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
        mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpu_flags": flags,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], labels: dict[str, str] | None = None) -> str:
    """A markdown table of ``columns`` (headed by ``labels[column]`` where given)."""
    fmt = format_number
    head = "| " + " | ".join((labels or {}).get(c, c) for c in columns) + " |"
    sep = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def with_ratios(
    rows: list[dict[str, Any]], baseline_name: str, metrics: Sequence[str], key: str = "system"
) -> list[dict[str, Any]]:
    """Add ``<metric> ×`` columns: each row's metric divided by the baseline row's metric."""
    base = next((r for r in rows if r.get(key) == baseline_name), None)
    for r in rows:
        for m in metrics:
            bv = base.get(m) if base else None
            v = r.get(m)
            r[f"{m} ×"] = (v / bv) if isinstance(v, int | float) and isinstance(bv, int | float) and bv else None
    return rows


#: Metrics where more is better; every other ratio column is "less is better" (time, memory, size).
HIGHER_IS_BETTER = frozenset({"f1_weighted", "f1_macro", "rows_s_b1", "rows_s_b64", "rows_per_s", "rows_per_cpu_s"})


def ratio_to_best(
    rows: list[dict[str, Any]], metrics: Sequence[str], is_peer: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Add ``<metric> ×best`` to every row: its value over the best peer's value (best = highest for
    :data:`HIGHER_IS_BETTER` metrics, lowest otherwise). Missing values stay None."""
    for m in metrics:
        values = [r[m] for r in rows if is_peer(r) and isinstance(r.get(m), int | float) and r[m] > 0]
        best = (max(values) if m in HIGHER_IS_BETTER else min(values)) if values else None
        for r in rows:
            v = r.get(m)
            r[f"{m} ×best"] = v / best if best and isinstance(v, int | float) else None
    return rows


def with_ratio_cells(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Copies of ``rows`` where each metric reads ``value (ratio×)`` for table display."""
    out = []
    for r in rows:
        d = dict(r)
        for m in metrics:
            v, ratio = r.get(m), r.get(f"{m} ×best")
            if v is None:
                d[m] = r.get(f"{m}_note", "")
            elif ratio is not None:
                d[m] = f"{format_number(v)} ({ratio:.2f}×)"
        out.append(d)
    return out


def format_number(v: Any) -> str:
    """Floats below 10 with 3 decimals, larger ones with 1 and thousands separators."""
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return "" if v is None else str(v)


def save_results(name: str, payload: dict[str, Any], markdown: str) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine_info(), **payload}
    (OUT_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    (OUT_DIR / f"{name}.md").write_text(markdown + "\n")
    return OUT_DIR / f"{name}.md"
