"""Unicode repair with ftfy (mojibake, C1 controls, ligatures, fullwidth) plus NFC, and U+FFFD detection.

U+FFFD (the replacement character) means the original bytes are gone; it cannot be repaired, so it is
counted and flagged instead. ftfy is slow, so it only sees values that a vectorised check finds suspect
(a mojibake-like pair, a C1 control, an escape, a ligature or a fullwidth form); NFC normalisation runs
vectorised on every non-ASCII value.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import ftfy
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skutag.catalogue.arrow import to_arrow, to_bool, to_series

REPLACEMENT_CHAR = "\ufffd"

#: cp1252/latin-1 renderings of UTF-8 continuation bytes 0x80-0xBF.
_CONT = (
    r"\x{80}-\x{BF}\x{152}\x{153}\x{160}\x{161}\x{178}\x{17D}\x{17E}\x{192}\x{2C6}\x{2DC}\x{2013}\x{2014}"
    r"\x{2018}-\x{201E}\x{2020}-\x{2022}\x{2026}\x{2030}\x{2039}\x{203A}\x{20AC}\x{2122}\x{FFFD}"
)
#: Values ftfy may change: a UTF-8 lead byte seen as cp1252/latin-1 followed by a continuation byte
#: (``Ã©``, ``â€™``), C1 controls, terminal escapes, Latin ligatures, fullwidth/halfwidth forms.
FTFY_HINT = rf"[\x{{C2}}-\x{{F4}}][{_CONT}]|[\x{{80}}-\x{{9F}}\x{{1B}}\x{{FB00}}-\x{{FB06}}\x{{FF01}}-\x{{FFEE}}]"

_CONFIG = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False, explain=False)


def repair_unicode_arrow(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Arrow kernel behind :func:`repair_unicode`."""
    non_ascii = ~to_bool(pc.string_is_ascii(arr)) & ~to_bool(pc.is_null(arr))
    changed = np.zeros(len(arr), dtype=bool)
    if not non_ascii.any():
        return arr, changed
    subset = arr.filter(pa.array(non_ascii))
    suspect = to_bool(pc.match_substring_regex(subset, FTFY_HINT))
    idx = np.flatnonzero(non_ascii)
    new_values: list[str] = []
    for k, old in enumerate(subset.to_pylist()):
        if suspect[k]:
            new = ftfy.fix_text(old, _CONFIG)
        elif not unicodedata.is_normalized("NFC", old):
            new = unicodedata.normalize("NFC", old)
        else:
            continue
        if new != old:
            changed[idx[k]] = True
            new_values.append(new)
    if new_values:
        arr = pc.replace_with_mask(arr, pa.array(changed), pa.array(new_values, type=arr.type))
    return arr, changed


def repair_unicode(values: Any) -> tuple[pd.Series, np.ndarray]:
    """Fix mojibake and similar damage with ftfy and NFC-normalise (HTML entities are left to
    :mod:`skutag.cleaning.html`; curly quotes are kept). Returns the repaired values and a mask of the
    values that changed (``_unicode_fixed``)."""
    index = values.index if isinstance(values, pd.Series) else None
    name = values.name if isinstance(values, pd.Series) else None
    out, changed = repair_unicode_arrow(to_arrow(values))
    return to_series(out, index, name), changed


def count_replacement_chars(values: Any) -> np.ndarray:
    """Number of U+FFFD characters per value (missing -> 0), as int64."""
    counts = pc.count_substring(to_arrow(values), REPLACEMENT_CHAR)
    return np.asarray(counts.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
