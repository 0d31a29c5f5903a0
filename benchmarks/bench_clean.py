"""`skutag clean` and near-duplicate detection over a synthetic catalogue (resampled MWPD offers).

Rows/s and peak RSS (each run in a fresh process) against a naive pandas baseline: read the whole file,
``dropna`` + ``drop_duplicates`` on the title, regex HTML strip, write. Targets on 2 cores: clean
>= 20,000 rows/s, near-duplicates over 1M rows < 5 min, peak RSS < 4 GiB. ``quick`` uses 2,000 rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, Measured, markdown_table, measure, save_results, with_ratios

FULL_ROWS = 1_000_000
QUICK_ROWS = 2_000
TARGET_ROWS_PER_S = 20_000.0
TARGET_NEAR_S = 300.0
TARGET_RSS_MB = 4096.0
LABELS = ("lvl1", "lvl2", "lvl3")


def skutag_clean(src: str, out: str, dedup: str, workers: int) -> dict[str, Any]:
    """The full `clean` pipeline (HTML, ftfy, whitespace, labels, exact + near duplicate flags)."""
    from skutag.workflows.clean import clean_catalogue

    s = clean_catalogue([Path(src)], Path(out), label=LABELS, dedup=dedup, workers=workers)  # type: ignore[arg-type]
    return {
        "rows_in": s.rows_in,
        "rows_out": s.rows_out,
        "rejected": s.rows_rejected,
        "counts": s.counts,
        "timings_s": s.timings_s,
    }


def pandas_baseline(src: str, out: str) -> dict[str, Any]:
    """Naive pandas: read all, dropna + drop_duplicates on the title, regex HTML strip, write all."""
    import pandas as pd

    df = pd.read_parquet(src) if src.endswith(".parquet") else pd.read_json(src, lines=True, dtype=False)
    n = len(df)
    df = df.dropna(subset=["Name"]).drop_duplicates(subset=["Name"])
    for col in ("Name", "Description"):
        df[col] = df[col].str.replace(r"<[^>]+>", " ", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()
    if out.endswith(".parquet"):
        df.to_parquet(out, index=False)
    else:
        df.to_json(out, orient="records", lines=True, force_ascii=False)
    return {"rows_in": n, "rows_out": len(df), "rejected": n - len(df)}


def near_dups(src: str) -> dict[str, Any]:
    """Exact and near-duplicate groups over the titles of ``src`` (only the title column is loaded)."""
    import numpy as np
    import pyarrow.parquet as pq

    from skutag.dedup import exact_duplicate_groups, near_duplicate_groups

    titles = pq.read_table(src, columns=["Name"]).column("Name").combine_chunks()
    t0 = time.perf_counter()
    exact = exact_duplicate_groups(titles)
    t1 = time.perf_counter()
    near = near_duplicate_groups(titles, threshold=0.8, num_perm=64)
    t2 = time.perf_counter()
    pos = np.arange(len(near))
    return {
        "rows_in": len(titles),
        "exact_s": t1 - t0,
        "near_s": t2 - t1,
        "exact_dup_rows": int((exact != pos).sum()),
        "near_dup_rows": int((near != pos).sum()),
    }


def _data(n: int, directory: Path) -> tuple[Path, Path]:
    from benchmarks.synth import make_catalogue

    jsonl = make_catalogue(n, directory / f"synth_{n}.jsonl", seed=0)
    parquet = make_catalogue(n, directory / f"synth_{n}.parquet", seed=0)
    return jsonl, parquet


def measure_in_child(fn_name: str, *args: Any) -> Measured:
    """Like :func:`benchmarks.common.measure`, but in a plain child process (which, unlike a pool worker,
    may start its own worker processes). The peak RSS covers the child and its waited-for workers."""
    code = (
        "import json, sys, time\n"
        f"from benchmarks.bench_clean import {fn_name} as fn\n"
        "t0 = time.perf_counter()\n"
        "value = fn(*json.loads(sys.argv[1]))\n"
        "print(json.dumps({'wall': time.perf_counter() - t0, 'value': value}))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(list(args))], stdout=subprocess.PIPE, cwd=str(REPO), text=True
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{fn_name}{args} failed with exit code {proc.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    return Measured(value=result["value"], wall_s=result["wall"], peak_rss_mb=usage.ru_maxrss / 1024.0)


def _verdict(skip: bool, ok: bool) -> str:
    return "-" if skip else ("yes" if ok else "NO")


def run(quick: bool = False) -> str:
    n = QUICK_ROWS if quick else FULL_ROWS
    rows: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="skutag-bench-clean-") as tmp:
        d = Path(tmp)
        jsonl, parquet = _data(n, d)
        runs: list[tuple[str, str, Any, tuple[Any, ...]]] = [
            ("pandas baseline", "parquet", pandas_baseline, (str(parquet), str(d / "base.parquet"))),
            ("skutag clean", "parquet", skutag_clean, (str(parquet), str(d / "c1.parquet"), "none", 1)),
            ("skutag clean --workers 2", "parquet", skutag_clean, (str(parquet), str(d / "c2.parquet"), "none", 2)),
            ("skutag clean --dedup near", "parquet", skutag_clean, (str(parquet), str(d / "n.parquet"), "near", 1)),
            ("pandas baseline", "jsonl", pandas_baseline, (str(jsonl), str(d / "base.jsonl"))),
            ("skutag clean", "jsonl", skutag_clean, (str(jsonl), str(d / "c1.jsonl"), "none", 1)),
            ("skutag clean --workers 2", "jsonl", skutag_clean, (str(jsonl), str(d / "c2.jsonl"), "none", 2)),
        ]
        for system, fmt, fn, args in runs:
            workers = args[-1] if fn is skutag_clean else 1
            m = measure_in_child(fn.__name__, *args) if workers > 1 else measure(fn, *args)
            peak = m.peak_rss_mb
            rows.append(
                {
                    "system": system,
                    "task": f"clean {fmt}",
                    "rows": n,
                    "wall s": m.wall_s,
                    "rows/s": n / m.wall_s,
                    "peak RSS MB": peak,
                    "meets target": _verdict(
                        quick or system == "pandas baseline", n / m.wall_s >= TARGET_ROWS_PER_S and peak < TARGET_RSS_MB
                    ),
                }
            )
            details.append(
                {"system": system, "format": fmt, "wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb, **m.value}
            )
        m = measure(near_dups, str(parquet))
        rows.append(
            {
                "system": "skutag near_duplicate_groups",
                "task": "near-dup titles",
                "rows": n,
                "wall s": m.wall_s,
                "rows/s": n / m.wall_s,
                "peak RSS MB": m.peak_rss_mb,
                "meets target": _verdict(quick, m.value["near_s"] < TARGET_NEAR_S and m.peak_rss_mb < TARGET_RSS_MB),
            }
        )
        details.append({"system": "near_duplicate_groups", "wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb, **m.value})
    for fmt in ("parquet", "jsonl"):
        group = [r for r in rows if r["task"] == f"clean {fmt}"]
        with_ratios(group, "pandas baseline", ["rows/s", "peak RSS MB"])
    cols = ["system", "task", "rows", "wall s", "rows/s", "rows/s ×", "peak RSS MB", "peak RSS MB ×", "meets target"]
    table = markdown_table(rows, cols)
    name = "clean_quick" if quick else "clean"
    targets = {"rows_per_s": TARGET_ROWS_PER_S, "near_s": TARGET_NEAR_S, "rss_mb": TARGET_RSS_MB}
    save_results(name, {"targets": targets, "runs": details}, table)
    return table


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv))
