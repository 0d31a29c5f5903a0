"""Datasets and the per-system measurement shared by the peer benchmarks (MWPD, the demo catalogue).

``evaluate_system`` is the unit a benchmark runs in a fresh process (``common.measure``): load the task,
fit (timed, wall and CPU), score the scored split (mean over levels of weighted and macro F1), time
prediction at batch 1 (one row per call) and batch 64, and save the model to measure its size on disk.
Conversion of rows to a system's natural input (joined strings, a frame) is done before the clock starts.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import SHARED_DATA

MWPD_LEVELS = ("lvl1", "lvl2", "lvl3")
MWPD_TITLE = ("Name",)
MWPD_FIELDS = ("Name", "CategoryText", "URL")
DEMO_TITLE = ("Product Name",)
BATCH_ROWS = {1: 300, 64: 3200}
QUICK_BATCH_ROWS = {1: 20, 64: 256}


@dataclass
class Task:
    """Text columns and label levels of a training, a validation (tuning) and a scored split."""

    name: str
    train_x: pd.DataFrame
    train_y: pd.DataFrame
    valid_x: pd.DataFrame
    valid_y: pd.DataFrame
    test_x: pd.DataFrame
    test_y: pd.DataFrame
    scored_on: str


def mwpd_available() -> bool:
    return (SHARED_DATA / "mwpd2020" / "train.json").is_file()


def _mwpd_part(name: str, nrows: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_json(SHARED_DATA / "mwpd2020" / name, lines=True, dtype=False, nrows=nrows)
    df = df.reset_index(drop=True)
    for c in MWPD_FIELDS:
        if c not in df.columns:
            df[c] = ""
    return df[list(MWPD_FIELDS)], df[list(MWPD_LEVELS)].astype(str)


def load_mwpd_task(quick: bool) -> Task:
    """MWPD 2020 train -> validation (the official test set is not distributed; validation is scored, and is
    also what fastText's autotune tunes on, so autotuned figures are optimistic)."""
    tx, ty = _mwpd_part("train.json", 600 if quick else None)
    vx, vy = _mwpd_part("validation.json", 200 if quick else None)
    return Task("mwpd", tx, ty, vx, vy, vx, vy, scored_on="validation")


def load_demo_task(quick: bool = False) -> Task | None:
    """The demo catalogue (Sample Superstore products), split like ``skutag split`` does it (near-duplicate
    titles kept together, stratified on Category/Sub-Category, 80/10/10, seed 0); None when not installed."""
    from skutag.datasets.paths import find_superstore
    from skutag.datasets.superstore import load_superstore
    from skutag.quality.groups import near_title_groups
    from skutag.workflows.split import group_stratified_split

    if find_superstore() is None:
        return None
    df, spec = load_superstore()
    levels = list(spec.label)
    split = group_stratified_split(df[levels], near_title_groups(df, spec), seed=0)
    parts = {s: df[split == s].reset_index(drop=True) for s in ("train", "validation", "test")}
    x = {s: p[list(DEMO_TITLE)] for s, p in parts.items()}
    y = {s: p[levels].astype(str) for s, p in parts.items()}
    return Task("demo", x["train"], y["train"], x["validation"], y["validation"], x["test"], y["test"], "test")


def load_task(name: str, quick: bool) -> Task:
    task = load_mwpd_task(quick) if name == "mwpd" else load_demo_task(quick) if name == "demo" else None
    if task is None:
        raise FileNotFoundError(f"task {name!r} has no data here")
    return task


def level_scores(gold: pd.DataFrame, pred: pd.DataFrame) -> dict[str, float]:
    """Mean over levels of weighted and macro F1, and the weighted F1 of each level."""
    from sklearn.metrics import f1_score

    w, m = [], []
    out: dict[str, float] = {}
    for g, p in zip(gold.columns, pred.columns, strict=True):
        yt, yp = gold[g].astype(str).to_numpy(), pred[p].astype(str).to_numpy()
        w.append(float(f1_score(yt, yp, average="weighted", zero_division=0)))
        m.append(float(f1_score(yt, yp, average="macro", zero_division=0)))
        out[f"f1_w_{g}"] = w[-1]
    return {"f1_weighted": float(np.mean(w)), "f1_macro": float(np.mean(m)), **out}


def _rows(x: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first ``n`` rows of ``x``, repeated when ``x`` is shorter."""
    reps = max(1, -(-n // max(1, len(x))))
    return pd.concat([x] * reps, ignore_index=True).head(n)


def _slice(inputs: Any, start: int, stop: int) -> Any:
    return inputs.iloc[start:stop] if isinstance(inputs, pd.DataFrame) else inputs[start:stop]


def throughput(system: Any, x: pd.DataFrame, batch: int, n_rows: int) -> float:
    """Rows/s of ``system.predict`` called on ``batch`` rows at a time over ``n_rows`` rows (one warm-up call)."""
    inputs = system.inputs(_rows(x, n_rows))
    batches = [_slice(inputs, i, i + batch) for i in range(0, n_rows, batch)]
    system.predict(batches[0])
    t0 = time.perf_counter()
    for b in batches:
        system.predict(b)
    return n_rows / (time.perf_counter() - t0)


def evaluate_system(
    task_name: str, kind: str, columns: tuple[str, ...], options: dict[str, Any], quick: bool
) -> dict[str, Any]:
    """Fit, score, time and save one system on one task (run it in a fresh process for a fair peak RSS)."""
    from benchmarks.peers_systems import dir_size_mb, make_system

    task = load_task(task_name, quick)
    cols = list(columns)
    system = make_system(kind, options)
    t0, cpu0 = time.perf_counter(), time.process_time()
    system.fit(task.train_x[cols], task.train_y, (task.valid_x[cols], task.valid_y))
    train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    pred = system.predict(system.inputs(task.test_x[cols]))
    out: dict[str, Any] = {
        "train_s": train_s,
        "train_cpu_s": train_cpu_s,
        "train_rows": len(task.train_x),
        "scored_rows": len(task.test_x),
        "scored_on": task.scored_on,
        **level_scores(task.test_y, pred),
    }
    sizes = QUICK_BATCH_ROWS if quick else BATCH_ROWS
    for batch, n in sizes.items():
        out[f"rows_s_b{batch}"] = throughput(system, task.test_x[cols], batch, n)
    with tempfile.TemporaryDirectory() as tmp:
        system.save(Path(tmp) / "model")
        out["size_mb"] = dir_size_mb(Path(tmp) / "model")
    chosen = getattr(system, "chosen", None)
    if chosen:
        out["params"] = chosen
    return out
