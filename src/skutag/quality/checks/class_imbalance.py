"""Class counts per label level: imbalance ratio and rare classes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.columns import label_levels


def check_class_imbalance(df: pd.DataFrame, spec: ColumnSpec, *, min_count: int = 5, **_: Any) -> CheckResult:
    """Per level: number of classes, imbalance ratio (largest / smallest class) and classes with fewer than
    ``min_count`` examples ("rare classes").

    Flags rows whose class is rare at any level; score = 1 / (size of the row's smallest class).
    ``details["levels"][level]["counts"]`` holds every class count, largest first.
    """
    labels = label_levels(df, spec)
    n = len(df)
    if labels is None:
        return CheckResult("class_imbalance", "Needs labels.", np.zeros(n, bool), np.zeros(n))
    scores = np.zeros(n, dtype=float)
    rare_rows = np.zeros(n, dtype=bool)
    summary: dict[str, Any] = {}
    levels: dict[str, Any] = {}
    for level in labels.columns:
        col = labels[level]
        counts = col.value_counts(dropna=True)
        rare = counts[counts < min_count]
        size = col.map(counts).to_numpy(dtype=float, na_value=np.nan)
        known = ~np.isnan(size)
        scores[known] = np.maximum(scores[known], 1.0 / size[known])
        rare_rows |= col.isin(rare.index).to_numpy()
        ratio = float(counts.iloc[0] / counts.iloc[-1]) if len(counts) else None
        summary[f"classes:{level}"] = len(counts)
        summary[f"rare_classes:{level}"] = len(rare)
        summary[f"imbalance_ratio:{level}"] = round(ratio, 1) if ratio is not None else None
        levels[level] = {
            "classes": len(counts),
            "imbalance_ratio": ratio,
            "rare_classes": [str(c) for c in rare.index],
            "unlabelled": int(col.isna().sum()),
            "counts": {str(k): int(v) for k, v in counts.items()},
        }
    summary["rows_in_rare_classes"] = int(rare_rows.sum())
    return CheckResult(
        name="class_imbalance",
        description=f"Classes per level, imbalance ratio, and rare classes (< {min_count} examples).",
        flags=rare_rows,
        scores=np.where(rare_rows, scores, 0.0),
        summary=summary,
        examples=example_rows(df, rare_rows, scores),
        details={"min_count": min_count, "levels": levels},
    )
