"""Label normalisation: whitespace and case, taxonomy codes (``64010100_Jewellery``) and paths (``A > B``).

Paths split, and labels are refused, by the one rule of :mod:`skutag.catalogue.paths`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from skutag.catalogue.arrow import to_arrow, to_bool, to_series
from skutag.catalogue.paths import PATH_SEP, bad_level, separator_key, split_path
from skutag.catalogue.schema import ColumnSpec
from skutag.cleaning.text import normalize_whitespace_arrow, normalize_whitespace_str

Case = Literal["keep", "lower", "upper", "title"]
_CODE_LABEL = re.compile(r"^\s*(\d+)\s*_\s*(.*?)\s*$", re.DOTALL)
DEFAULT_PATH_SEP = PATH_SEP
#: Characters every refused label holds (a cheap Arrow filter before the exact rule runs in Python).
_SUSPECT = r"[>.]"


def normalize_labels(values: Any, *, case: Case = "keep") -> pd.Series:
    """Collapse whitespace, trim, and optionally change case; empty labels become missing."""
    index = values.index if isinstance(values, pd.Series) else None
    name = values.name if isinstance(values, pd.Series) else None
    arr = normalize_whitespace_arrow(to_arrow(values))
    if case == "lower":
        arr = pc.utf8_lower(arr)
    elif case == "upper":
        arr = pc.utf8_upper(arr)
    elif case == "title":
        arr = pc.utf8_title(arr)
    arr = pc.if_else(pc.equal(arr, ""), None, arr)
    return to_series(arr, index, name)


def parse_code_label(value: str) -> tuple[str | None, str]:
    """``"64010100_Jewellery"`` -> ``("64010100", "Jewellery")``; a label without a numeric code ->
    ``(None, label)``. Whitespace is normalised."""
    m = _CODE_LABEL.match(value)
    if m is None:
        return None, normalize_whitespace_str(value)
    return m.group(1), normalize_whitespace_str(m.group(2))


def split_code_labels(values: Any) -> pd.DataFrame:
    """Vectorised :func:`parse_code_label`: a frame with ``code`` and ``name`` (missing stays missing)."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype="str")
    s = s.astype("str")
    parts = s.str.extract(r"^\s*(\d+)\s*_\s*(.*?)\s*$", expand=True)
    code = parts[0]
    name = parts[1].where(code.notna(), s)
    return pd.DataFrame({"code": code.astype("str"), "name": normalize_whitespace_arrow_series(name)}, index=s.index)


def normalize_whitespace_arrow_series(s: pd.Series) -> pd.Series:
    return to_series(normalize_whitespace_arrow(to_arrow(s)), s.index, s.name)


def parse_path(value: str, sep: str = DEFAULT_PATH_SEP) -> list[str]:
    """``"A > B >C"`` -> ``["A", "B", "C"]``: split on ``sep`` (surrounding whitespace ignored), parts
    whitespace-normalised, empty parts dropped."""
    return [p for p in (normalize_whitespace_str(x) for x in value.split(separator_key(sep))) if p]


def join_path(parts: list[str], sep: str = DEFAULT_PATH_SEP) -> str:
    """Inverse of :func:`parse_path` for clean parts."""
    return sep.join(parts)


def normalize_paths(values: Any, sep: str = DEFAULT_PATH_SEP, *, case: Case = "keep") -> pd.Series:
    """Rewrite every path with canonical separators (``"A>B >  C"`` -> ``"A > B > C"``). Idempotent."""
    s = normalize_labels(values, case=case)
    out = [None if v is None or v != v else (join_path(parse_path(v, sep), sep) or None) for v in s.tolist()]
    return pd.Series(out, index=s.index, name=s.name, dtype="str")


def bad_label_rows(df: pd.DataFrame, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose labels :func:`skutag.catalogue.paths.bad_level` refuses: the reject reason and column per
    row (None where the labels are usable). Only level and path labels are checked, not tags."""
    n = len(df)
    reason = np.full(n, None, dtype=object)
    column = np.full(n, None, dtype=object)
    if not spec.label or spec.label_tags:
        return reason, column
    suspect = np.zeros(n, dtype=bool)
    for col in spec.label:
        suspect |= to_bool(pc.match_substring_regex(to_arrow(df[col]), _SUSPECT))
    for i in np.flatnonzero(suspect):
        found = bad_level(_levels(df, spec, int(i)))
        if found is not None:
            level, reason[i] = found
            column[i] = spec.label[0] if spec.is_path_column else spec.label[level]
    return reason, column


def _levels(df: pd.DataFrame, spec: ColumnSpec, i: int) -> Sequence[object]:
    values = [df[col].iat[i] for col in spec.label]
    if spec.is_path_column:
        value = values[0]
        return split_path(value, spec.label_sep or PATH_SEP) if isinstance(value, str) else []
    return values
