"""Which columns the checks look at: text columns, the title column, label levels, the split column."""

from __future__ import annotations

import pandas as pd

from skutag.catalogue.columns import LabelPathStats, label_frame
from skutag.catalogue.schema import RESERVED_COLUMNS, ColumnSpec


def text_columns(df: pd.DataFrame, spec: ColumnSpec) -> list[str]:
    """The spec's text columns present in ``df``; without any, every string column that is not a label/id/split."""
    cols = [c for c in spec.text if c in df.columns]
    if cols:
        return cols
    skip = set(RESERVED_COLUMNS) | set(spec.label) | {spec.id, spec.split}
    return [c for c in df.columns if c not in skip and _is_stringy(df[c])]


def title_column(df: pd.DataFrame, spec: ColumnSpec) -> str | None:
    """The first text column: the product title that duplicate checks compare."""
    cols = text_columns(df, spec)
    return cols[0] if cols else None


def as_text(series: pd.Series) -> pd.Series:
    """Strings with missing values as ``""``."""
    return series.astype("str").where(series.notna(), "")


def title_key(series: pd.Series) -> pd.Series:
    """Normalised title for exact-duplicate matching: case-folded, whitespace collapsed; empty -> missing."""
    key = as_text(series).str.lower().str.replace(r"\s+", " ", regex=True).str.strip()
    return key.where(key != "")


def label_levels(df: pd.DataFrame, spec: ColumnSpec, stats: LabelPathStats | None = None) -> pd.DataFrame | None:
    """Label frame with columns ``level_1..level_n`` (strings, missing as NA); None without hierarchical labels.
    ``stats`` is filled as :func:`skutag.catalogue.columns.label_frame` fills it."""
    if not spec.has_labels or spec.label_tags or not all(c in df.columns for c in spec.label):
        return None
    return label_frame(df, spec, stats)


def _is_stringy(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series) or series.dtype == object
