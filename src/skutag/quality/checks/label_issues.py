"""Likely mislabelled rows: cleanlab's confident learning on out-of-fold probabilities of the linear model."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import softmax

from skutag.catalogue.columns import label_frame
from skutag.catalogue.schema import ColumnSpec
from skutag.log import get_logger
from skutag.quality.base import CheckResult, example_rows, row_ids

log = get_logger(__name__)

NAME = "label_issues"
DESCRIPTION = (
    "Rows whose label disagrees with what a model trained on the other rows confidently predicts "
    "(cleanlab find_label_issues on out-of-fold probabilities); details list the suggested label."
)
MAX_DETAILS = 5000


def out_of_fold_scores(
    texts: pd.DataFrame, labels: pd.DataFrame, folds: int = 3, seed: int = 0, **model_params: Any
) -> list[pd.DataFrame]:
    """Per level, raw linear-model scores for every row from a model that did not see it."""
    from skutag.models.linear.model import LinearModel

    n = len(texts)
    order = np.random.default_rng(seed).permutation(n)
    classes = [
        sorted({str(v) for v in labels.iloc[:, lv] if isinstance(v, str)} | {""}) for lv in range(labels.shape[1])
    ]
    out = [pd.DataFrame(-10.0, index=texts.index, columns=c) for c in classes]
    params = {"calibration_fraction": 0.0, **model_params}
    for k in range(folds):
        test = np.sort(order[k::folds])
        train = np.setdiff1d(np.arange(n), test)
        model = LinearModel(**params).fit(texts.iloc[train], labels.iloc[train])
        for lv, frame in enumerate(model.decision_function(texts.iloc[test])):
            out[lv].loc[frame.index, frame.columns] = frame.to_numpy()
    return out


def _temperature(scores: np.ndarray, target: np.ndarray) -> float:
    from skutag.models.paths import fit_temperature

    return fit_temperature(scores, target)


def check_label_issues(
    df: pd.DataFrame,
    spec: ColumnSpec,
    *,
    folds: int = 3,
    levels: str = "finest",
    min_rows: int = 50,
    min_class_rows: int = 5,
    **_: Any,
) -> CheckResult:
    """Flag rows cleanlab considers mislabelled at the finest level (``levels="finest"``) or at any level
    (``levels="each"``). Score = 1 - calibrated out-of-fold probability of the given label (flagged rows).
    Rows of classes with fewer than ``min_class_rows`` rows are not judged."""
    from cleanlab.filter import find_label_issues

    n = len(df)
    flags = np.zeros(n, dtype=bool)
    scores = np.zeros(n, dtype=float)
    if not spec.has_labels or not spec.text:
        return CheckResult(NAME, "Needs text and label columns.", flags, scores, {"skipped": "no labels"})
    labels = label_frame(df, spec).reset_index(drop=True)
    texts = df[list(spec.text)].astype(object).reset_index(drop=True)
    texts = texts.where(texts.notna(), "")
    usable = labels.iloc[:, 0].map(lambda v: isinstance(v, str) and bool(v.strip())).to_numpy(dtype=bool)
    idx = np.flatnonzero(usable)
    summary: dict[str, Any] = {"rows_checked": len(idx), "folds": folds}
    if len(idx) < max(min_rows, folds * 2):
        summary["skipped"] = f"too few labelled rows ({len(idx)})"
        return CheckResult(NAME, DESCRIPTION, flags, scores, summary)
    oof = out_of_fold_scores(texts.iloc[idx], labels.iloc[idx], folds=folds)
    level_ids = [labels.shape[1] - 1] if levels == "finest" else list(range(labels.shape[1]))
    suggestions: dict[int, dict[str, Any]] = {}
    ids = row_ids(df)
    for lv in level_ids:
        frame = oof[lv]
        given = labels.iloc[idx, lv].map(lambda v: v if isinstance(v, str) else "").to_numpy()
        cols = {c: i for i, c in enumerate(frame.columns)}
        target = np.array([cols[g] for g in given])
        present = np.unique(target)
        # keep only classes that occur (cleanlab needs each column to be a class with examples)
        remap = {c: i for i, c in enumerate(present)}
        raw = frame.to_numpy()[:, present]
        y = np.array([remap[t] for t in target])
        t = _temperature(raw, y)
        probs = softmax(raw * t, axis=1)
        if len(present) < 2:
            continue
        with warnings.catch_warnings():
            # cleanlab warns once per class with few examples; those rows are excluded just below
            warnings.simplefilter("ignore", UserWarning)
            issues = find_label_issues(labels=y, pred_probs=probs, filter_by="prune_by_noise_rate")
        level_name = f"level_{lv + 1}"
        # a class with too few rows cannot be learned out of fold: its rows would all look mislabelled
        rare = np.bincount(y)[y] < min_class_rows
        summary[f"rare_class_rows_not_judged:{level_name}"] = int(rare.sum())
        issues &= ~rare
        summary[f"issues:{level_name}"] = int(issues.sum())
        self_conf = probs[np.arange(len(y)), y]
        best = probs.argmax(axis=1)
        for j in np.flatnonzero(issues):
            row = int(idx[j])
            flags[row] = True
            scores[row] = max(scores[row], 1.0 - float(self_conf[j]))
            suggestions.setdefault(row, {"row": ids[row].item() if hasattr(ids[row], "item") else ids[row]})
            suggestions[row][level_name] = {
                "given": str(frame.columns[present[y[j]]]),
                "suggested": str(frame.columns[present[best[j]]]),
                "confidence": round(float(probs[j, best[j]]), 4),
            }
    summary["flagged_rows"] = int(flags.sum())
    summary["share"] = round(float(flags.sum()) / max(1, len(idx)), 4)
    ranked = sorted(suggestions.items(), key=lambda kv: -scores[kv[0]])
    details = {"suggestions": [v for _, v in ranked[:MAX_DETAILS]]}
    return CheckResult(NAME, DESCRIPTION, flags, scores, summary, example_rows(df, flags, scores), details)
