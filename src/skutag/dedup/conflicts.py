"""Duplicate groups whose rows disagree on the label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def conflicting_label_groups(groups: np.ndarray, labels: Sequence[Any] | Any) -> np.ndarray:
    """Bool per row: its group holds more than one distinct (non-missing) label."""
    groups = np.asarray(groups, dtype=np.int64)
    if len(groups) == 0:
        return np.zeros(0, dtype=bool)
    lab = labels if isinstance(labels, pd.Series) else pd.Series(list(labels), dtype=object)
    codes, _ = pd.factorize(lab.reset_index(drop=True), use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    ok = codes >= 0
    pairs = pd.DataFrame({"g": groups[ok], "c": codes[ok]}).drop_duplicates()
    n_labels = pairs.groupby("g", sort=False).size()
    bad = n_labels.index[n_labels.to_numpy() > 1].to_numpy()
    return np.isin(groups, bad)
