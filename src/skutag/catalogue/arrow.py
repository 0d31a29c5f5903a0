"""Conversions between pandas string Series and pyarrow arrays, so cleaning runs in Arrow's C kernels."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_SURROGATES = re.compile("[\ud800-\udfff]")


def to_arrow(values: Any) -> pa.Array:
    """A pandas Series / sequence of strings as a ``large_string`` Arrow array (non-strings become str).

    Lone surrogates (which UTF-8 cannot hold) are replaced by U+FFFD instead of raising.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string()) if values.type != pa.large_string() else values
    try:
        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        items = list(values.tolist() if isinstance(values, pd.Series) else values)
        arr = pa.array([_as_str(v) for v in items], type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):  # a Series concatenated from chunks is Arrow-backed and chunked
        arr = arr.combine_chunks()
    return arr


def _as_str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    s = v if isinstance(v, str) else str(v)
    return _SURROGATES.sub("\ufffd", s)


def to_series(arr: pa.Array, index: pd.Index | None = None, name: Any = None) -> pd.Series:
    """An Arrow string array back to a pandas ``str`` Series."""
    s = arr.to_pandas()
    if not isinstance(s, pd.Series):  # pragma: no cover - defensive
        s = pd.Series(s)
    if str(s.dtype) != "str":
        s = s.astype("str")
    if index is not None:
        s.index = index
    s.name = name
    return s


def to_bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow boolean array as numpy bool, nulls as False."""
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def apply_where(arr: pa.Array, mask: Any, fn: Any) -> pa.Array:
    """``fn`` applied only to the values where ``mask`` holds (a fast path when few values need work)."""
    m = pa.array(mask, type=pa.bool_()) if isinstance(mask, np.ndarray) else mask.fill_null(False)
    if not pc.any(m).as_py():
        return arr
    return pc.replace_with_mask(arr, m, fn(arr.filter(m)).cast(arr.type))
