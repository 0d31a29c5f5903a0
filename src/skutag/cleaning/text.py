"""Whitespace normalisation: one space between words, no control or zero-width characters, trimmed."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skutag.catalogue.arrow import apply_where, to_arrow, to_series

#: Every character Python's ``str.split()`` treats as whitespace, written for RE2 (Arrow's regex engine).
_WS = r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_HWS = r"\t\x0b\x0c\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{202f}\x{205f}\x{3000}"
#: Control characters (not whitespace) and invisible zero-width characters, dropped.
_JUNK = r"[\x00-\x08\x0e-\x1b\x7f\x{200b}\x{200c}\x{200d}\x{2060}\x{feff}]+"


_WS_NOT_SPACE = _WS.replace(" ", "")
#: A value needs work when it holds whitespace other than a single space, or a leading/trailing space.
_NEEDS_WORK = f"[{_WS_NOT_SPACE}]|  |^ | $"


def _normalize_all(arr: pa.Array, keep_newlines: bool) -> pa.Array:
    if keep_newlines:
        arr = pc.replace_substring_regex(arr, r"\r\n?|[\x{2028}\x{2029}]", "\n")
        arr = pc.replace_substring_regex(arr, f"[{_HWS}]+", " ")
        arr = pc.replace_substring_regex(arr, r" ?\n[\n ]*", "\n")
        return pc.replace_substring_regex(arr, r"^[\n ]+|[\n ]+$", "")
    arr = pc.replace_substring_regex(arr, f"[{_WS}]+", " ")
    return pc.replace_substring_regex(arr, r"^ | $", "")


def normalize_whitespace_arrow(arr: pa.Array, *, keep_newlines: bool = False) -> pa.Array:
    """Arrow kernel behind :func:`normalize_whitespace`; only values that need work are rewritten."""
    needs = pc.match_substring_regex(arr, f"{_JUNK}|{_NEEDS_WORK}")
    return apply_where(arr, needs, lambda s: _normalize_all(pc.replace_substring_regex(s, _JUNK, ""), keep_newlines))


def normalize_whitespace(values: Any, *, keep_newlines: bool = False) -> pd.Series:
    """Collapse runs of whitespace to one space (or, with ``keep_newlines``, keep single line breaks),
    drop control and zero-width characters, trim both ends. Missing values stay missing. Idempotent.
    """
    index = values.index if isinstance(values, pd.Series) else None
    name = values.name if isinstance(values, pd.Series) else None
    return to_series(normalize_whitespace_arrow(to_arrow(values), keep_newlines=keep_newlines), index, name)


def normalize_whitespace_str(text: str, *, keep_newlines: bool = False) -> str:
    """:func:`normalize_whitespace` for one string."""
    out = normalize_whitespace_arrow(to_arrow([text]), keep_newlines=keep_newlines)[0].as_py()
    return out if out is not None else ""
