"""Duplicate groups over titles, shared by the duplicate, conflict and leakage checks.

A group array holds, for each row, the position of the first row of its group; rows without a duplicate
(and rows with an empty title) are their own group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.columns import as_text, title_column


def exact_title_groups(df: pd.DataFrame, spec: ColumnSpec) -> np.ndarray:
    """Groups of rows whose titles are equal after case folding and whitespace collapsing."""
    col = title_column(df, spec)
    if col is None:
        return np.arange(len(df), dtype=np.int64)
    from skutag.dedup import exact_duplicate_groups

    return np.asarray(exact_duplicate_groups(_contiguous(df[col])), dtype=np.int64)


def exact_text_groups(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Groups of rows equal (case and spacing ignored) in every one of ``columns``; blank equals blank here,
    but rows blank in all columns never group."""
    from skutag.dedup import exact_duplicate_groups

    n = len(df)
    combined = np.zeros(n, dtype=np.int64)
    all_blank = np.ones(n, dtype=bool)
    for col in columns:
        blank = (as_text(df[col]).str.strip() == "").to_numpy()
        all_blank &= blank
        g = np.asarray(exact_duplicate_groups(_contiguous(df[col])), dtype=np.int64)
        g[blank] = n
        combined = pd.factorize(pd.Series(combined * (n + 1) + g))[0].astype(np.int64)
    key = pd.Series(combined).where(~all_blank)
    return groups_from_keys(key)


def near_title_groups(df: pd.DataFrame, spec: ColumnSpec, *, threshold: float = 0.8, num_perm: int = 64) -> np.ndarray:
    """Groups of rows whose titles are near-duplicates (MinHash-LSH, Jaccard >= ``threshold``)."""
    col = title_column(df, spec)
    if col is None or len(df) == 0:
        return np.arange(len(df), dtype=np.int64)
    from skutag.dedup import near_duplicate_groups

    groups = near_duplicate_groups(_contiguous(df[col]), threshold=threshold, num_perm=num_perm)
    return np.asarray(groups, dtype=np.int64)


def _contiguous(series: pd.Series) -> pa.Array:
    """One contiguous Arrow string array (a frame concatenated from chunks holds chunked columns)."""
    arr = pa.array(as_text(series).where(series.notna(), None), type=pa.large_string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def groups_from_keys(keys: pd.Series) -> np.ndarray:
    """Group array from a key per row; missing keys never group."""
    codes, _ = pd.factorize(keys, use_na_sentinel=True)
    n = len(codes)
    pos = np.arange(n, dtype=np.int64)
    valid = codes >= 0
    first = np.full(codes.max() + 1 if valid.any() else 0, n, dtype=np.int64)
    np.minimum.at(first, codes[valid], pos[valid])
    out = pos.copy()
    out[valid] = first[codes[valid]]
    return out


def merge_groups(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union of two groupings (connected components), in the same first-row convention."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(a)
    if n == 0:
        return np.arange(0, dtype=np.int64)
    rows = np.concatenate([np.arange(n), np.arange(n)])
    cols = np.concatenate([a, b])
    graph = coo_matrix((np.ones(2 * n, dtype=np.int8), (rows, cols)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    return groups_from_keys(pd.Series(comp))


def in_group(groups: np.ndarray) -> np.ndarray:
    """True for rows whose group has more than one row."""
    if len(groups) == 0:
        return np.zeros(0, dtype=bool)
    return np.bincount(groups, minlength=len(groups))[groups] > 1
