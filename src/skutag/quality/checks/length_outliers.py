"""Texts unusually short or long for their column (Tukey fences on lengths)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.columns import as_text, text_columns


def check_length_outliers(df: pd.DataFrame, spec: ColumnSpec, *, k: float = 3.0, **_: Any) -> CheckResult:
    """Per text column, flag non-empty texts whose length (characters) lies outside
    ``[Q1 - k*IQR, Q3 + k*IQR]`` (empty texts are the missing-fields check's business).

    Score = largest distance beyond a fence, in IQRs. ``details["lengths"]`` holds per-column quartiles and
    fences.
    """
    cols = text_columns(df, spec)
    scores = np.zeros(len(df), dtype=float)
    per_column: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for col in cols:
        length = as_text(df[col]).str.len().to_numpy(dtype=float)
        present = length > 0
        if not present.any():
            continue
        q1, med, q3 = np.percentile(length[present], [25, 50, 75])
        iqr = max(q3 - q1, 1.0)
        lo, hi = q1 - k * iqr, q3 + k * iqr
        dist = np.where(length < lo, (lo - length) / iqr, np.where(length > hi, (length - hi) / iqr, 0.0))
        dist[~present] = 0.0
        scores = np.maximum(scores, dist)
        short, long_ = int(((length < lo) & present).sum()), int((length > hi).sum())
        per_column[col] = {
            "q1": q1,
            "median": med,
            "q3": q3,
            "low_fence": lo,
            "high_fence": hi,
            "short": short,
            "long": long_,
        }
        summary[f"short:{col}"] = short
        summary[f"long:{col}"] = long_
    flags = scores > 0
    return CheckResult(
        name="length_outliers",
        description=f"Texts shorter or longer than their column's Tukey fences (k = {k}).",
        flags=flags,
        scores=scores,
        summary={"outlier_rows": int(flags.sum()), **summary},
        examples=example_rows(df, flags, scores),
        details={"k": k, "per_column": per_column},
    )
