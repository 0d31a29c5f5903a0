"""The linear categoriser against fastText and a plain scikit-learn TF-IDF + LinearSVC, on MWPD.

Train on ``mwpd2020/train.json``, score on ``validation.json`` (levels lvl1..lvl3). Each system runs in a fresh
process (peak RSS is the whole run); training time and prediction throughput (rows/s, on the validation
rows repeated to >= 20,000 rows) are timed inside, as wall time and as CPU time (``*_cpu_s``: all threads;
on a machine shared with other jobs the CPU figures are the fairer comparison). Weighted/macro F1 are means
over the three levels.
Targets on 2 cores: skutag linear predicts >= 20,000 rows/s and trains on MWPD in <= 2 minutes. On a
loaded machine, rows per CPU-second (and training CPU-seconds / 2) show what 2 free cores would give.
The systems are those of ``benchmarks/peers_systems.py`` (``bench_peers`` adds batch-1/64 throughput, model size
and the other peers). ``quick`` uses the peer benchmark's MWPD slices.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from benchmarks.common import markdown_table, measure, measure_here, save_results, with_ratios
from benchmarks.peers_tasks import MWPD_FIELDS, MWPD_TITLE, level_scores, load_mwpd_task

TARGET_ROWS_PER_S = 20_000.0
TARGET_TRAIN_S = 120.0
THROUGHPUT_ROWS = 21_000
QUICK_THROUGHPUT_ROWS = 2_000


def run_system(kind: str, text: tuple[str, ...], quick: bool) -> dict[str, Any]:
    """Fit one system (``benchmarks.peers_systems``) on MWPD train, score validation, time a large batch
    (validation rows repeated; skutag: ``predict_topk(k=3)``), wall and CPU."""
    from benchmarks.bench_peers import QUICK_FASTTEXT
    from benchmarks.peers_systems import SkutagLinear, make_system

    task = load_mwpd_task(quick)
    cols = list(text)
    system = make_system(kind, dict(QUICK_FASTTEXT) if quick and kind == "fasttext" else {})
    t0, cpu0 = time.perf_counter(), time.process_time()
    system.fit(task.train_x[cols], task.train_y, None)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    pred = system.predict(system.inputs(task.valid_x[cols]))
    n = QUICK_THROUGHPUT_ROWS if quick else THROUGHPUT_ROWS
    big = pd.concat([task.valid_x[cols]] * -(-n // len(task.valid_x)), ignore_index=True)
    inputs = system.inputs(big)
    t0, cpu0 = time.perf_counter(), time.process_time()
    if isinstance(system, SkutagLinear):
        system.model.predict_topk(inputs, k=3)
    else:
        system.predict(inputs)
    pred_s, pred_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "train_s": train_s,
        "train_cpu_s": train_cpu,
        "rows_per_s": len(big) / pred_s,
        "rows_per_cpu_s": len(big) / pred_cpu,
        **level_scores(task.valid_y, pred),
    }


def run(quick: bool = False) -> str:
    systems = [
        ("skutag linear (Name, CategoryText, URL)", "skutag-linear", MWPD_FIELDS),
        ("skutag linear (Name)", "skutag-linear", MWPD_TITLE),
        ("sklearn tfidf+LinearSVC (Name)", "sklearn-svc", MWPD_TITLE),
        ("fastText flat path (Name)", "fasttext", MWPD_TITLE),
    ]
    if quick:
        systems = [s for s in systems if s[0] != "skutag linear (Name)"]
    rows: list[dict[str, Any]] = []
    for name, kind, text in systems:
        m = (measure_here if quick else measure)(run_system, kind, text, quick)
        rows.append({"system": name, **m.value, "peak_rss_mb": m.peak_rss_mb, "wall_s": m.wall_s})
    rows = with_ratios(
        rows,
        "sklearn tfidf+LinearSVC (Name)",
        ["train_s", "train_cpu_s", "rows_per_s", "rows_per_cpu_s", "peak_rss_mb"],
    )
    cols = [
        "system",
        "f1_weighted",
        "f1_macro",
        "train_s",
        "train_s ×",
        "train_cpu_s",
        "train_cpu_s ×",
        "rows_per_s",
        "rows_per_s ×",
        "rows_per_cpu_s",
        "rows_per_cpu_s ×",
        "peak_rss_mb",
        "peak_rss_mb ×",
    ]
    table = markdown_table(rows, cols)
    main = rows[0]
    table += (
        f"\n\nMWPD {'(quick slice) ' if quick else ''}validation, mean over 3 levels. Targets (2 cores): "
        f"skutag >= {TARGET_ROWS_PER_S:,.0f} rows/s (got {main['rows_per_s']:,.0f} wall, "
        f"{main['rows_per_cpu_s']:,.0f} per CPU-s), training <= "
        f"{TARGET_TRAIN_S:.0f} s (got {main['train_s']:.1f} s wall, {main['train_cpu_s']:.1f} s CPU); "
        "baseline bar 0.89 weighted / 0.73 macro."
    )
    save_results("linear", {"quick": quick, "rows": rows}, table)
    return table
