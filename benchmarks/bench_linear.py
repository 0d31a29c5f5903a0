"""The linear categoriser against fastText and a plain scikit-learn TF-IDF + LinearSVC, on MWPD.

Train on ``mwpd2020/train.json``, score on ``validation.json`` (levels lvl1..lvl3). Each system runs in a fresh
process (peak RSS is the whole run); training time and prediction throughput (rows/s, on the validation
rows repeated to >= 20,000 rows) are timed inside, as wall time and as CPU time (``*_cpu_s``: all threads;
on a machine shared with other jobs the CPU figures are the fairer comparison). Weighted/macro F1 are means
over the three levels.
Targets on 2 cores: skutag linear predicts >= 20,000 rows/s and trains on MWPD in <= 2 minutes. On a
loaded machine, rows per CPU-second (and training CPU-seconds / 2) show what 2 free cores would give.
``quick`` uses 1,000 training and 300 validation rows and short fastText training.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import SHARED_DATA, markdown_table, measure, save_results, with_ratios

LEVELS = ("lvl1", "lvl2", "lvl3")
TARGET_ROWS_PER_S = 20_000.0
TARGET_TRAIN_S = 120.0
THROUGHPUT_ROWS = 21_000
QUICK_THROUGHPUT_ROWS = 2_000
SPACE = "\u2423"  # stands for a space inside fastText labels


def _load(quick: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    base = SHARED_DATA / "mwpd2020"
    train = pd.read_json(base / "train.json", lines=True, dtype=False, nrows=1000 if quick else None)
    valid = pd.read_json(base / "validation.json", lines=True, dtype=False, nrows=300 if quick else None)
    return train.reset_index(drop=True), valid.reset_index(drop=True)


def _scores(valid: pd.DataFrame, pred: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import f1_score

    w = [f1_score(valid[lv], pred[lv], average="weighted") for lv in LEVELS]
    m = [f1_score(valid[lv], pred[lv], average="macro") for lv in LEVELS]
    return {
        "f1_weighted": float(np.mean(w)),
        "f1_macro": float(np.mean(m)),
        **{f"f1_w_{lv}": v for lv, v in zip(LEVELS, w, strict=True)},
    }


def _repeat(df: pd.DataFrame, quick: bool) -> pd.DataFrame:
    reps = max(1, -(-(QUICK_THROUGHPUT_ROWS if quick else THROUGHPUT_ROWS) // len(df)))
    return pd.concat([df] * reps, ignore_index=True)


def _result(
    train_s: float,
    train_cpu: float,
    predict_big: Callable[[], object],
    n_big: int,
    valid: pd.DataFrame,
    pred: pd.DataFrame,
) -> dict[str, Any]:
    """Time ``predict_big`` (wall and CPU) and assemble one system's row."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    predict_big()
    pred_s, pred_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "train_s": train_s,
        "train_cpu_s": train_cpu,
        "rows_per_s": n_big / pred_s,
        "rows_per_cpu_s": n_big / pred_cpu,
        **_scores(valid, pred),
    }


def run_skutag(quick: bool, text: tuple[str, ...]) -> dict[str, Any]:
    """skutag's LinearModel (calibrated, hierarchy-consistent), 2 threads."""
    from skutag.models.linear import LinearModel

    train, valid = _load(quick)
    labels = train[list(LEVELS)].set_axis(["level_1", "level_2", "level_3"], axis=1)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    model = LinearModel(n_jobs=2).fit(train[list(text)], labels)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    pred = model.predict(valid[list(text)]).set_axis(list(LEVELS), axis=1)
    big = _repeat(valid[list(text)], quick)
    return _result(train_s, train_cpu, lambda: model.predict_topk(big, k=3), len(big), valid, pred)


def run_sklearn(quick: bool) -> dict[str, Any]:
    """The README baseline: TF-IDF word 1-2 + char_wb 2-5 (title), LinearSVC C=0.5, one per level."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    train, valid = _load(quick)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    x = sp.hstack([word.fit_transform(train["Name"]), char.fit_transform(train["Name"])]).tocsr()
    models = {lv: LinearSVC(C=0.5).fit(x, train[lv]) for lv in LEVELS}
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0

    def predict(titles: pd.Series) -> pd.DataFrame:
        xv = sp.hstack([word.transform(titles), char.transform(titles)]).tocsr()
        return pd.DataFrame({lv: m.predict(xv) for lv, m in models.items()})

    pred = predict(valid["Name"])
    big = _repeat(valid[["Name"]], quick)["Name"]
    return _result(train_s, train_cpu, lambda: predict(big), len(big), valid, pred)


def run_fasttext(quick: bool) -> dict[str, Any]:
    """fastText supervised, one flat model over full paths (title), word bigrams, subwords 3-5, 2 threads."""
    import fasttext

    train, valid = _load(quick)

    def clean(s: pd.Series) -> list[str]:
        return [" ".join(str(t).lower().split()) for t in s.fillna("")]

    paths = (train["lvl1"] + "|" + train["lvl2"] + "|" + train["lvl3"]).str.replace(" ", SPACE)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        with open(path, "w", encoding="utf-8") as fh:
            for label, text in zip(paths, clean(train["Name"]), strict=True):
                fh.write(f"__label__{label} {text}\n")
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        model = fasttext.train_supervised(
            path, epoch=5 if quick else 25, wordNgrams=2, minn=3, maxn=5, lr=0.5, thread=2, verbose=0
        )
        train_s, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0

    def predict(titles: pd.Series) -> pd.DataFrame:
        labels = [model.f.predict(t + "\n", 1, 0.0, "strict")[0][1] for t in clean(titles)]
        parts = [lab.removeprefix("__label__").replace(SPACE, " ").split("|") for lab in labels]
        return pd.DataFrame(parts, columns=list(LEVELS))

    pred = predict(valid["Name"])
    big = _repeat(valid[["Name"]], quick)["Name"]
    return _result(train_s, train_cpu, lambda: predict(big), len(big), valid, pred)


def run(quick: bool = False) -> str:
    systems = [
        ("skutag linear (Name, CategoryText, URL)", run_skutag, (quick, ("Name", "CategoryText", "URL"))),
        ("skutag linear (Name)", run_skutag, (quick, ("Name",))),
        ("sklearn tfidf+LinearSVC (Name)", run_sklearn, (quick,)),
        ("fastText flat path (Name)", run_fasttext, (quick,)),
    ]
    if quick:
        systems = [s for s in systems if s[0] != "skutag linear (Name)"]
    rows: list[dict[str, Any]] = []
    for name, fn, args in systems:
        m = measure(fn, *args)
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
