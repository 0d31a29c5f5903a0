"""`skutag inspect` over a synthetic catalogue (resampled MWPD offers): rows/s and peak RSS per size.

Target: 1M rows with peak RSS < 4 GiB. ``quick`` runs 2,000 rows (harness check only). Every check runs
except label_issues (it trains models; by default inspect skips it above 50k rows).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import OUT_DIR, markdown_table, measure, save_results

SIZES = (100_000, 1_000_000)
QUICK_SIZES = (2_000,)
TARGET_RSS_MB = 4096.0


def inspect_file(path: str, out_dir: str, all_columns: bool = True) -> dict[str, Any]:
    """Run inspect with every check except the model-training label_issues (skipped by default above 50k
    rows anyway) and return its timings and headline figures."""
    from skutag.quality.checks import CHECKS
    from skutag.workflows.inspect import inspect_catalogue

    checks = [c.name for c in CHECKS if c.name != "label_issues"]
    report = inspect_catalogue(
        [Path(path)], label=("lvl1", "lvl2", "lvl3"), out_dir=Path(out_dir), checks=checks, all_columns=all_columns
    )
    return {
        "rows": report.rows,
        "rejected": report.rejected_rows,
        "timings_s": report.timings_s,
        "flagged": {r.name: r.n_flagged for r in report.results},
    }


def run(quick: bool = False) -> str:
    from benchmarks.synth import make_catalogue

    sizes = QUICK_SIZES if quick else SIZES
    rows: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="skutag-bench-inspect-") as tmp:
        for n in sizes:
            path = make_catalogue(n, Path(tmp) / f"synth_{n}.jsonl", seed=0)
            for all_columns in (True,) if quick else (True, False):
                mode = "all columns" if all_columns else "needed columns"
                m = measure(inspect_file, str(path), str(Path(tmp) / f"report_{n}"), all_columns)
                rows.append(_row(n, mode, m.wall_s, m.peak_rss_mb, m.value["timings_s"]))
                details.append({"rows": n, "mode": mode, "wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb, **m.value})
    table = markdown_table(
        rows, ["rows", "columns read", "wall s", "rows/s", "peak RSS MB", "< 4 GiB", "slowest steps (s)"]
    )
    name = "inspect_quick" if quick else "inspect"
    save_results(name, {"target_rss_mb": TARGET_RSS_MB, "runs": details, "out_dir": str(OUT_DIR)}, table)
    return table


def _row(n: int, mode: str, wall_s: float, peak_mb: float, timings: dict[str, float]) -> dict[str, Any]:
    slowest = sorted(timings.items(), key=lambda kv: -kv[1])[:3]
    return {
        "rows": n,
        "columns read": mode,
        "wall s": wall_s,
        "rows/s": n / wall_s,
        "peak RSS MB": peak_mb,
        "< 4 GiB": "yes" if peak_mb < TARGET_RSS_MB else "NO",
        "slowest steps (s)": ", ".join(f"{k} {v:.1f}" for k, v in slowest),
    }


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv))
