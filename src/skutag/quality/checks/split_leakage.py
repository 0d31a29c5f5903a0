"""Duplicate and near-duplicate groups that straddle splits (train/validation/test leakage)."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.columns import as_text
from skutag.quality.groups import exact_title_groups, in_group, merge_groups


def check_split_leakage(
    df: pd.DataFrame,
    spec: ColumnSpec,
    *,
    exact_groups: np.ndarray | None = None,
    near_groups: np.ndarray | None = None,
    **_: Any,
) -> CheckResult:
    """Groups of exact (and, when computed, near) duplicate titles whose rows fall in more than one split.

    ``leaking_groups``/``leaking_rows`` count them; ``pair:<a>/<b>`` counts groups shared by each pair of
    splits; ``exact_leaking_groups`` counts exact-title groups alone. Score = number of splits the row's
    group spans (0 if one).
    """
    n = len(df)
    if spec.split is None or spec.split not in df.columns:
        return CheckResult("split_leakage", "Needs a split column.", np.zeros(n, bool), np.zeros(n))
    exact = exact_title_groups(df, spec) if exact_groups is None else exact_groups
    groups = exact if near_groups is None else merge_groups(exact, near_groups)
    split = as_text(df[spec.split]).to_numpy()
    summary: dict[str, Any] = {}
    spans = _spans(groups, split)
    scores = np.array(pd.Series(groups).map(spans).fillna(1), dtype=float)
    scores[scores < 2] = 0
    flags = scores > 0
    leaking = spans[spans > 1].index.to_numpy()
    summary["leaking_groups"] = len(leaking)
    summary["leaking_rows"] = int(flags.sum())
    exact_spans = _spans(exact, split)
    summary["exact_leaking_groups"] = int((exact_spans > 1).sum())
    frame = pd.DataFrame({"g": groups[flags], "s": split[flags]}).drop_duplicates()
    sets = frame.groupby("g")["s"].agg(frozenset)
    names = sorted(set(split))
    for a, b in combinations(names, 2):
        summary[f"pair:{a}/{b}"] = int(sum(1 for s in sets if a in s and b in s))
    for name in names:
        summary[f"rows_leaking:{name}"] = int((flags & (split == name)).sum())
    return CheckResult(
        name="split_leakage",
        description="Duplicate or near-duplicate titles found in more than one split.",
        flags=flags,
        scores=scores,
        summary=summary,
        examples=example_rows(df, flags, scores),
        details={"splits": names},
    )


def _spans(groups: np.ndarray, split: np.ndarray) -> pd.Series:
    """Number of distinct splits per duplicate group (index = group id)."""
    mask = in_group(groups)
    frame = pd.DataFrame({"g": groups[mask], "s": split[mask]})
    return frame.groupby("g")["s"].nunique()
