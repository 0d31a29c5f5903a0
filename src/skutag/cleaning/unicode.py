"""Unicode repair with ftfy (mojibake, bad escapes, NFC) and U+FFFD detection.

U+FFFD (the replacement character) means the original bytes are gone; it cannot be repaired, so it is
counted and flagged instead. Pure-ASCII values skip ftfy entirely.
"""

from __future__ import annotations

from typing import Any

import ftfy
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skutag.cleaning._arrow import to_arrow, to_bool, to_series

REPLACEMENT_CHAR = "\ufffd"


def repair_unicode_arrow(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Arrow kernel behind :func:`repair_unicode`."""
    non_ascii = ~to_bool(pc.string_is_ascii(arr)) & ~to_bool(pc.is_null(arr))
    changed = np.zeros(len(arr), dtype=bool)
    if not non_ascii.any():
        return arr, changed
    values = arr.to_pylist()
    for i in np.flatnonzero(non_ascii):
        old = values[i]
        new = ftfy.fix_text(old, unescape_html=False)
        if new != old:
            values[i] = new
            changed[i] = True
    if not changed.any():
        return arr, changed
    return pa.array(values, type=pa.large_string()), changed


def repair_unicode(values: Any) -> tuple[pd.Series, np.ndarray]:
    """Fix mojibake and similar damage with ftfy (HTML entities are left to :mod:`skutag.cleaning.html`).
    Returns the repaired values and a mask of the values ftfy changed (``_unicode_fixed``)."""
    index = values.index if isinstance(values, pd.Series) else None
    name = values.name if isinstance(values, pd.Series) else None
    out, changed = repair_unicode_arrow(to_arrow(values))
    return to_series(out, index, name), changed


def count_replacement_chars(values: Any) -> np.ndarray:
    """Number of U+FFFD characters per value (missing -> 0), as int64."""
    counts = pc.count_substring(to_arrow(values), REPLACEMENT_CHAR)
    return np.asarray(counts.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
