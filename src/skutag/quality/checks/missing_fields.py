"""Missing, empty and placeholder values per column."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.schema import RESERVED_COLUMNS, ColumnSpec
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.columns import as_text

#: Values that stand for "no value" (compared case-insensitively after stripping).
PLACEHOLDERS = frozenset(
    {"null", "none", "nil", "nan", "n/a", "na", "n.a.", "-", "--", "?", "unknown", "undefined", "tbd", "#n/a"}
)

MAX_PLACEHOLDER_LEN = max(len(p) for p in PLACEHOLDERS)


def is_placeholder(stripped: pd.Series) -> np.ndarray:
    """True where a stripped text is a placeholder; only short values are case-folded (cheap on long text)."""
    out = np.zeros(len(stripped), dtype=bool)
    short = np.flatnonzero((stripped.str.len() <= MAX_PLACEHOLDER_LEN).to_numpy())
    if len(short):
        out[short] = stripped.iloc[short].str.lower().isin(PLACEHOLDERS).to_numpy()
    return out


def check_missing_fields(
    df: pd.DataFrame, spec: ColumnSpec, *, columns: list[str] | None = None, **_: Any
) -> CheckResult:
    """Count missing (null), empty (blank) and placeholder (``null``, ``N/A``, ...) values in every column.

    A row is flagged when any checked column lacks a value; its score is the share of checked columns
    lacking one. ``details["per_column"]`` has the counts per column.
    """
    cols = columns or [c for c in df.columns if c not in RESERVED_COLUMNS]
    lacking = np.zeros((len(df), len(cols)), dtype=bool)
    per_column: dict[str, dict[str, int]] = {}
    for j, col in enumerate(cols):
        s = df[col]
        missing = s.isna().to_numpy()
        text = as_text(s).str.strip()
        empty = (text == "").to_numpy() & ~missing
        placeholder = is_placeholder(text)
        lacking[:, j] = missing | empty | placeholder
        per_column[col] = {
            "missing": int(missing.sum()),
            "empty": int(empty.sum()),
            "placeholder": int(placeholder.sum()),
            "total": int(lacking[:, j].sum()),
        }
    flags = np.asarray(lacking.any(axis=1), dtype=bool)
    scores = lacking.mean(axis=1) if cols else np.zeros(len(df))
    return CheckResult(
        name="missing_fields",
        description="Missing, empty or placeholder values (null, N/A, ...) per column.",
        flags=flags,
        scores=scores.astype(float),
        summary={
            "rows_with_missing": int(flags.sum()),
            "columns_with_missing": sum(1 for v in per_column.values() if v["total"]),
            **{f"missing:{c}": v["total"] for c, v in per_column.items()},
        },
        examples=example_rows(df, flags, scores),
        details={"per_column": per_column},
    )
