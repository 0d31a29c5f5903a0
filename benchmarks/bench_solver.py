"""The linear model's two solvers side by side: liblinear (exact, one problem per class) against averaged SGD
(all classes in one pass per row), quality and training cost as the catalogue grows.

Data: MWPD train (10K real titles), then catalogues of 100K and 1M rows resampled from MWPD *train only*
(``benchmarks/synth.py``'s perturbations; validation offers are left out so the score is fair). Every fit
runs in a fresh process reading the catalogue from Parquet; title only, 3 levels, scored on MWPD
validation (mean weighted and macro F1 over levels). liblinear above ``LIBLINEAR_MAX_ROWS`` is not run:
its cost grows with classes x rows x passes (``bench_cost`` projects it). The ``auto`` solver picks
liblinear up to ``LinearModel.sgd_min_rows`` rows and SGD above.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import markdown_table, measure, measure_here, save_results
from benchmarks.peers_tasks import MWPD_LEVELS, MWPD_TITLE, level_scores, load_mwpd_task, mwpd_available

SIZES = (0, 100_000, 1_000_000)  # 0: MWPD train itself
QUICK_SIZES = (0, 1_000)
SOLVERS = ("liblinear", "sgd")
LIBLINEAR_MAX_ROWS = 200_000
TRAIN_ONLY = ("train.json",)


def fit_and_score(solver: str, data: str, quick: bool) -> dict[str, Any]:
    """Fit LinearModel(solver) on the catalogue at ``data`` (title -> 3 levels), score MWPD validation."""
    from skutag.models.linear.model import LinearModel

    task = load_mwpd_task(quick)
    df = pd.read_parquet(data)
    labels = df[list(MWPD_LEVELS)].astype(str)
    t0, cpu0 = time.perf_counter(), time.process_time()
    model = LinearModel(solver=solver).fit(df[list(MWPD_TITLE)], labels)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    pred = model.predict(task.valid_x[list(MWPD_TITLE)])
    scores = level_scores(task.valid_y, pred)
    f1 = {k: scores[k] for k in ("f1_weighted", "f1_macro")}
    return {"fit_s": fit_s, "fit_cpu_s": fit_cpu_s, **f1}


COLUMNS = ["rows", "solver", "f1_weighted", "f1_macro", "fit_s", "fit_cpu_s", "speedup", "peak_rss_mb", "note"]
LABELS = {
    "f1_weighted": "weighted F1",
    "f1_macro": "macro F1",
    "fit_s": "train s",
    "fit_cpu_s": "train CPU s",
    "speedup": "liblinear train s / this",
    "peak_rss_mb": "peak RSS MB",
}


def render(rows: list[dict[str, Any]]) -> str:
    return markdown_table(rows, COLUMNS, LABELS)


def _catalogue(n: int, quick: bool, folder: Path) -> Path:
    from benchmarks.synth import make_catalogue

    path = folder / f"catalogue-{n}.parquet"
    if n == 0:  # MWPD train as it is
        task = load_mwpd_task(quick)
        pd.concat([task.train_x, task.train_y], axis=1).to_parquet(path)
        return path
    return make_catalogue(n, path, seed=0, parts=TRAIN_ONLY)


def run(quick: bool = False) -> str:
    if not mwpd_available():
        return "shared data not available: skipped"
    fn = measure_here if quick else measure
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-solver-") as tmp:
        for n in QUICK_SIZES if quick else SIZES:
            data = _catalogue(n, quick, Path(tmp))
            n_rows = len(pd.read_parquet(data, columns=list(MWPD_TITLE)))
            label = f"{n_rows:,}" + (" (MWPD train)" if n == 0 else " (resampled train)")
            baseline: float | None = None
            for solver in SOLVERS:
                row: dict[str, Any] = {"rows": label, "solver": solver}
                if solver == "liblinear" and n_rows > LIBLINEAR_MAX_ROWS:
                    row["note"] = f"not run (> {LIBLINEAR_MAX_ROWS:,} rows): cost grows with classes x rows x passes"
                    rows.append(row)
                    continue
                print(f"  solver: {solver} at {n_rows:,} rows", flush=True)
                m = fn(fit_and_score, solver, str(data), quick)
                row |= {**m.value, "peak_rss_mb": m.peak_rss_mb}
                if solver == "liblinear":
                    baseline = m.value["fit_s"]
                elif baseline:
                    row["speedup"] = baseline / m.value["fit_s"]
                rows.append(row)
            data.unlink()
    md = (
        "Linear model solvers on MWPD validation (title only; resampled catalogues drawn from train only; "
        f"each fit a fresh process, peak RSS includes the catalogue).\n\n{render(rows)}"
    )
    save_results("solver-quick" if quick else "solver", {"quick": quick, "rows": rows}, md)
    return md
