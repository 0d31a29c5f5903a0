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

One title a call (:func:`one_title_calls`, also alone: ``python -m benchmarks.bench_linear --one-title``): both
systems trained on MWPD train titles in one process, then each system's raw call on the validation titles, one
title a call, in interleaved rounds (best round kept): skutag ``LinearModel.predict_one(title)`` and, for
reference, ``predict`` on a one-row DataFrame; fastText's ``predict(str)`` on its own preprocessed text (made
before the clock; fastText-wheel 0.9.2's ``predict(str)`` fails on numpy 2, so its steps run here as written with
``np.asarray``) and its bare C++ binding. Target: skutag >= 0.5x fastText's ``predict(str)`` calls/s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import markdown_table, measure, measure_here, save_results, with_ratios
from benchmarks.peers_tasks import MWPD_FIELDS, MWPD_TITLE, level_scores, load_mwpd_task

TARGET_ROWS_PER_S = 20_000.0
#: one title a call: skutag's predict_one at least this share of fastText's predict(str) calls/s
TARGET_ONE_TITLE_RATIO = 0.5
ONE_TITLE_ROUNDS = 5
#: titles the one-row DataFrame call is timed on (about 2 ms a call on a loaded machine)
FRAME_TITLES = 300
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


def fasttext_predict_str(model: Any, text: str, k: int = 1) -> tuple[tuple[str, ...], np.ndarray]:
    """fastText's ``predict(str)`` (fasttext-wheel 0.9.2, ``FastText.py``) step for step, with ``np.asarray`` where it
    has ``np.array(probs, copy=False)``, which numpy 2 refuses."""
    if text.find("\n") != -1:
        raise ValueError("predict processes one line at a time (remove '\\n')")
    predictions = model.f.predict(text + "\n", k, 0.0, "strict")
    probs, labels = zip(*predictions, strict=True) if predictions else ((), ())
    return labels, np.asarray(probs)


def _calls_per_s(fn: Callable[[Any], Any], inputs: list[Any]) -> float:
    t0 = time.perf_counter()
    for x in inputs:
        fn(x)
    return len(inputs) / (time.perf_counter() - t0)


def one_title_calls(quick: bool = False) -> dict[str, Any]:
    """skutag linear and fastText (hand-set) fitted on MWPD train titles, then raw calls/s one validation title a
    call, the systems interleaved round by round (best of ``ONE_TITLE_ROUNDS``: the least disturbed by other load);
    also whether ``predict_one`` gave ``predict``'s path on every title timed both ways."""
    from benchmarks.bench_peers import QUICK_FASTTEXT
    from benchmarks.peers_systems import FastTextPeer, SkutagLinear, fasttext_text

    task = load_mwpd_task(quick)
    cols = list(MWPD_TITLE)
    skutag = SkutagLinear()
    skutag.fit(task.train_x[cols], task.train_y, None)
    ft = FastTextPeer(**(dict(QUICK_FASTTEXT) if quick else {}))
    ft.fit(task.train_x[cols], task.train_y, None)
    model, ft_model = skutag.model, ft.model
    titles = [t if isinstance(t, str) else "" for t in task.valid_x[cols[0]].tolist()]
    ft_texts = [fasttext_text(t) for t in titles]
    n_frames = min(len(titles), 40 if quick else FRAME_TITLES)
    frames = [pd.DataFrame({cols[0]: [t]}) for t in titles[:n_frames]]
    calls: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "skutag predict_one(title)": (model.predict_one, titles),
        "skutag predict(one-row DataFrame)": (model.predict, frames),
        "fastText predict(str)": (lambda t: fasttext_predict_str(ft_model, t), ft_texts),
        "fastText C++ binding f.predict(str)": (lambda t: ft_model.f.predict(t + "\n", 1, 0.0, "strict"), ft_texts),
    }
    for fn, inputs in calls.values():  # warm-up: compiled kernels, caches, the path table
        fn(inputs[0])
    best = dict.fromkeys(calls, 0.0)
    for _ in range(2 if quick else ONE_TITLE_ROUNDS):
        for name, (fn, inputs) in calls.items():
            best[name] = max(best[name], _calls_per_s(fn, inputs))
    same = sum(model.predict_one(f.iloc[0, 0]).paths[0][0] == tuple(model.predict(f).iloc[0].dropna()) for f in frames)
    reference = best["fastText predict(str)"]
    rows = [
        {
            "call": name,
            "titles": len(calls[name][1]),
            "calls_per_s": best[name],
            "us_per_call": 1e6 / best[name],
            "x_fasttext": best[name] / reference,
        }
        for name in calls
    ]
    return {"rows": rows, "same_path_as_predict": f"{same}/{len(frames)}", "load_avg_1m": os.getloadavg()[0]}


def one_title_table(result: dict[str, Any]) -> str:
    rows = result["rows"]
    ratio = rows[0]["x_fasttext"]
    table = markdown_table(
        rows,
        ["call", "titles", "calls_per_s", "us_per_call", "x_fasttext"],
        {"calls_per_s": "calls/s", "us_per_call": "µs/call", "x_fasttext": "× fastText predict(str)"},
    )
    return (
        f"{table}\n\nOne MWPD validation title a call, same process, best of interleaved rounds (load average "
        f"{result['load_avg_1m']:.1f}). Target: predict_one >= {TARGET_ONE_TITLE_RATIO}x fastText's predict(str) "
        f"(got {ratio:.2f}x); predict_one's path = predict's on {result['same_path_as_predict']} titles."
    )


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
    one = (measure_here if quick else measure)(one_title_calls, quick).value
    table += "\n\n" + one_title_table(one)
    save_results("linear", {"quick": quick, "rows": rows, "one_title": one}, table)
    return table


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_linear", description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--one-title", action="store_true", help="only the one-title-a-call section")
    args = ap.parse_args()
    if args.one_title:
        found = one_title_calls(args.quick)
        text = one_title_table(found)
        save_results("linear-one-title" + ("-quick" if args.quick else ""), {"quick": args.quick, **found}, text)
        print(text)
    else:
        print(run(args.quick))
