"""Exact duplicate titles (after case folding and whitespace collapsing)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.columns import text_columns, title_column
from skutag.quality.groups import exact_text_groups, exact_title_groups, in_group


def duplicate_counts(groups: np.ndarray) -> dict[str, int]:
    """``duplicate_rows`` (rows in a group of 2+), ``groups`` (such groups) and ``extra_copies`` (rows - groups)."""
    dup = in_group(groups)
    n_rows = int(dup.sum())
    n_groups = len(np.unique(groups[dup]))
    return {"duplicate_rows": n_rows, "groups": n_groups, "extra_copies": n_rows - n_groups}


def check_exact_duplicates(
    df: pd.DataFrame, spec: ColumnSpec, *, exact_groups: np.ndarray | None = None, **_: Any
) -> CheckResult:
    """Rows whose title equals another row's title (case and whitespace ignored).

    ``duplicate_titles`` counts the redundant copies (rows in a duplicate group minus one per group): the
    number of rows dropping duplicates would remove. ``duplicate_rows`` counts every row of every group.
    With several text columns, ``duplicate_texts`` counts the same for all text columns together.
    Score = size of the row's group.
    """
    groups = exact_title_groups(df, spec) if exact_groups is None else exact_groups
    counts = duplicate_counts(groups)
    flags = in_group(groups)
    sizes = np.bincount(groups, minlength=len(groups))[groups] if len(groups) else np.zeros(0)
    scores = np.where(flags, sizes, 0).astype(float)
    summary: dict[str, Any] = {
        "duplicate_titles": counts["extra_copies"],
        "duplicate_rows": counts["duplicate_rows"],
        "duplicate_groups": counts["groups"],
    }
    cols = text_columns(df, spec)
    if len(cols) > 1:
        summary["duplicate_texts"] = duplicate_counts(exact_text_groups(df, cols))["extra_copies"]
    largest = _largest_groups(df, groups, flags, title_column(df, spec))
    return CheckResult(
        name="exact_duplicates",
        description="Rows whose title (case and spacing ignored) equals another row's.",
        flags=flags,
        scores=scores,
        summary=summary,
        examples=example_rows(df, flags, scores),
        details={"largest_groups": largest},
    )


def _largest_groups(df: pd.DataFrame, groups: np.ndarray, flags: np.ndarray, col: str | None, k: int = 10) -> list:
    if col is None or not flags.any():
        return []
    ids, sizes = np.unique(groups[flags], return_counts=True)
    order = np.argsort(-sizes, kind="stable")[:k]
    titles = df[col].to_numpy()
    return [{"title": str(titles[ids[i]]), "rows": int(sizes[i])} for i in order]
