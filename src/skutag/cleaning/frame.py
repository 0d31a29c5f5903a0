"""Clean one chunk (a DataFrame): text columns, label columns, missing values; no I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skutag.catalogue.arrow import to_arrow, to_series
from skutag.catalogue.schema import ColumnSpec
from skutag.cleaning.html import strip_html_arrow
from skutag.cleaning.labels import Case, bad_label_rows, normalize_labels, normalize_paths
from skutag.cleaning.missing import DEFAULT_PLACEHOLDERS, MissingPolicy, apply_missing_policies
from skutag.cleaning.text import normalize_whitespace_arrow
from skutag.cleaning.unicode import REPLACEMENT_CHAR, repair_unicode_arrow

#: Flag columns every cleaned row carries (duplicate flags are added by the pipeline).
HTML_FLAG = "_html_fixed"
UNICODE_FLAG = "_unicode_fixed"
FFFD_COUNT = "_fffd"
EMPTY_TEXT_REASON = "empty_text"
#: Repair count of text and label values that held NUL characters, which whitespace normalisation drops.
NUL_COUNT = "nul_stripped_values"


@dataclass(frozen=True)
class CleanOptions:
    """What :func:`clean_frame` does besides the text columns of the spec."""

    missing: Mapping[str, MissingPolicy] = field(default_factory=dict)
    placeholders: frozenset[str] = DEFAULT_PLACEHOLDERS
    drop_empty_text: bool = True
    keep_newlines: bool = False
    label_case: Case = "keep"


@dataclass
class CleanedFrame:
    """A cleaned chunk: ``frame`` holds every row (rejected ones too); ``reject_reason``/``reject_column``
    say which rows must go to the rejects (None where kept); ``counts`` sums the repairs."""

    frame: pd.DataFrame
    reject_reason: np.ndarray
    reject_column: np.ndarray
    counts: dict[str, int]

    @property
    def keep(self) -> np.ndarray:
        return pd.isna(self.reject_reason)


def clean_text_arrow(arr: pa.Array, *, keep_newlines: bool = False) -> tuple[pa.Array, dict[str, np.ndarray]]:
    """HTML -> text, ftfy repair, whitespace normalisation, U+FFFD count; blank -> null."""
    arr, html = strip_html_arrow(arr)
    arr, uni = repair_unicode_arrow(arr)
    arr = normalize_whitespace_arrow(arr, keep_newlines=keep_newlines)
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.large_string()), arr)
    fffd = np.asarray(pc.count_substring(arr, REPLACEMENT_CHAR).fill_null(0).to_numpy(zero_copy_only=False))
    return arr, {"html": html, "unicode": uni, "fffd": fffd.astype(np.int64)}


def clean_frame(df: pd.DataFrame, spec: ColumnSpec, options: CleanOptions | None = None) -> CleanedFrame:
    """Clean the text and label columns of ``df`` and apply the missing-value policies.

    Adds ``_html_fixed``, ``_unicode_fixed`` (bool) and ``_fffd`` (U+FFFD count over the text columns),
    plus ``_missing_<col>`` for ``flag`` policies. Rows to drop are marked, not removed: those a ``drop``
    policy drops, those with a label the path rule refuses (:func:`bad_label_rows`), those without text.
    """
    opts = options or CleanOptions()
    out = df.copy()
    n = len(out)
    html = np.zeros(n, dtype=bool)
    uni = np.zeros(n, dtype=bool)
    fffd = np.zeros(n, dtype=np.int64)
    counts: dict[str, int] = {"html_fixed_values": 0, "unicode_fixed_values": 0, "fffd_values": 0, NUL_COUNT: 0}
    for col in spec.text:
        raw = to_arrow(out[col])
        counts[NUL_COUNT] += int(holds_nul(raw).sum())
        arr, f = clean_text_arrow(raw, keep_newlines=opts.keep_newlines)
        out[col] = to_series(arr, out.index, col)
        html |= f["html"]
        uni |= f["unicode"]
        fffd += f["fffd"]
        counts["html_fixed_values"] += int(f["html"].sum())
        counts["unicode_fixed_values"] += int(f["unicode"].sum())
        counts["fffd_values"] += int((f["fffd"] > 0).sum())
    for col in spec.label if not spec.label_tags else ():
        counts[NUL_COUNT] += int(holds_nul(to_arrow(out[col])).sum())
        if spec.is_path_column:
            out[col] = normalize_paths(out[col], spec.label_sep or " > ", case=opts.label_case)
        else:
            out[col] = normalize_labels(out[col], case=opts.label_case)
    out[HTML_FLAG] = html
    out[UNICODE_FLAG] = uni
    out[FFFD_COUNT] = fffd

    outcome = apply_missing_policies(out, opts.missing, opts.placeholders)
    out = outcome.frame
    counts.update(outcome.counts)
    reason = np.full(n, None, dtype=object)
    column = np.full(n, None, dtype=object)
    dropped = outcome.drop_mask
    if dropped.any():
        cols = outcome.drop_column[dropped]
        reason[dropped] = [f"missing: no value in column {c!r} (policy drop)" for c in cols]
        column[dropped] = cols
    bad_reason, bad_column = bad_label_rows(out, spec)
    sel = pd.notna(bad_reason) & pd.isna(reason)
    reason[sel] = bad_reason[sel]
    column[sel] = bad_column[sel]
    if opts.drop_empty_text and spec.text:
        empty = np.ones(n, dtype=bool)
        for col in spec.text:
            empty &= out[col].isna().to_numpy()
        sel = empty & pd.isna(reason)
        reason[sel] = f"{EMPTY_TEXT_REASON}: no text in any of {list(spec.text)}"
        column[sel] = spec.text[0]
    return CleanedFrame(frame=out, reject_reason=reason, reject_column=column, counts=counts)


def holds_nul(arr: pa.Array) -> np.ndarray:
    """True for the values holding a NUL character (missing -> False): bytes a CSV can carry and no text
    means, dropped by :func:`~skutag.cleaning.text.normalize_whitespace_arrow` and counted as a repair."""
    return np.asarray(pc.match_substring(arr, "\x00").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def joined_text(df: pd.DataFrame, columns: Iterable[str], sep: str = " ") -> pa.Array:
    """The given (cleaned) columns joined with ``sep`` per row, skipping missing ones; null when all are."""
    arrays = [to_arrow(df[c]) for c in columns]
    if not arrays:
        return pa.nulls(len(df), pa.large_string())
    if len(arrays) == 1:
        return arrays[0]
    joined = pc.binary_join_element_wise(*arrays, pa.scalar(sep, pa.large_string()), null_handling="skip")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.large_string()), joined)
