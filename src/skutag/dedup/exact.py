"""Exact duplicates: rows whose normalised text (case and whitespace ignored) is identical."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from skutag.dedup.keys import matching_key, valid_mask
from skutag.dedup.unionfind import first_positions


def exact_duplicate_groups(texts: Sequence[str | None] | Any) -> np.ndarray:
    """An int64 group id per row: the position of the first row with the same normalised text.
    Missing or blank texts never group together (each is its own group)."""
    keys = matching_key(texts)
    valid = valid_mask(keys)
    codes, _ = pd.factorize(keys.to_pandas(), use_na_sentinel=True)
    return first_positions(np.asarray(codes, dtype=np.int64), valid)
