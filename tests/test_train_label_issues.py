"""The label_issues quality check: cleanlab on out-of-fold linear-model probabilities."""

from __future__ import annotations

import numpy as np

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.checks import get_check
from skutag.quality.checks.label_issues import check_label_issues
from test_model_data import synthetic


def test_finds_flipped_labels_and_suggests_the_right_one() -> None:
    df = synthetic(400, seed=4)
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(df), 30, replace=False)
    truth = df.loc[flipped, "lvl3"].copy()
    swap = {
        "Apples": "Board",
        "Pears": "Knives",
        "Cheese": "Pans",
        "Milk": "Pears",
        "Board": "Milk",
        "Knives": "Cheese",
        "Pans": "Apples",
    }
    df.loc[flipped, "lvl3"] = [swap[v] for v in truth]
    df["_row"] = np.arange(1, len(df) + 1)
    spec = ColumnSpec(text=("title",), label=("lvl1", "lvl2", "lvl3"))
    res = check_label_issues(df, spec, folds=3)
    assert res.name == "label_issues" and len(res.flags) == len(df)
    found = set(np.flatnonzero(res.flags))
    assert len(found & set(flipped)) >= 24  # most flips found
    assert len(found - set(flipped)) <= 10  # few false alarms
    assert (res.scores[res.flags] > 0).all() and (res.scores[~res.flags] == 0).all()
    by_row = {s["row"]: s for s in res.details["suggestions"]}
    hits = [by_row[i + 1]["level_3"] for i in flipped if i + 1 in by_row]
    right = sum(h["suggested"] == truth[i] for h, i in zip(hits, [i for i in flipped if i + 1 in by_row], strict=True))
    assert right >= 0.8 * len(hits)
    assert res.summary["issues:level_3"] == res.n_flagged


def test_registered_as_needing_labels_and_skips_small_input() -> None:
    info = get_check("label_issues")
    assert info.needs_labels
    df = synthetic(10)
    res = check_label_issues(df, ColumnSpec(text=("title",), label=("lvl1",)))
    assert res.n_flagged == 0 and "skipped" in res.summary
