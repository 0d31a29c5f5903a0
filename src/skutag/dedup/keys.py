"""Matching keys: the normalised form of a text that duplicate detection compares."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skutag.catalogue.arrow import to_arrow, to_bool
from skutag.cleaning.text import normalize_whitespace_arrow


def matching_key(texts: Any) -> pa.Array:
    """Lower-cased, whitespace-normalised text; missing or blank -> null."""
    arr = normalize_whitespace_arrow(pc.utf8_lower(to_arrow(texts)))
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.large_string()), arr)


def valid_mask(keys: pa.Array) -> np.ndarray:
    """True where a key is present (so the row may join a group)."""
    return ~to_bool(pc.is_null(keys))


def key_hashes(keys: pa.Array) -> np.ndarray:
    """A stable uint64 hash per key (pandas' keyed SipHash, the same in every process); null keys hash as ''."""
    import pandas as pd

    values = keys.fill_null("").to_numpy(zero_copy_only=False).astype(object)
    return pd.util.hash_array(values, categorize=False).astype(np.uint64)
