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
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "cpu_flags": flags,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
        return "" if v is None else str(v)

    head = "| " + " | ".join(columns) + " |"
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


def save_results(name: str, payload: dict[str, Any], markdown: str) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine_info(), **payload}
    (OUT_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    (OUT_DIR / f"{name}.md").write_text(markdown + "\n")
    return OUT_DIR / f"{name}.md"
