"""Text damaged by bad decoding: U+FFFD replacement characters and mojibake that ftfy can repair."""

from __future__ import annotations

from typing import Any

import ftfy
import numpy as np
import pandas as pd

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.columns import as_text, text_columns, title_column

REPLACEMENT_CHAR = "\ufffd"


def is_mojibake(text: str) -> bool:
    """True when ftfy's encoding repair would change ``text`` (e.g. ``CafÃ©`` -> ``Café``)."""
    return ftfy.fix_encoding(text) != text


def check_encoding_damage(df: pd.DataFrame, spec: ColumnSpec, **_: Any) -> CheckResult:
    """Count U+FFFD characters and mojibake per text and label column, and the number of damaged titles.

    Only non-ASCII strings are passed to ftfy (ASCII text cannot be mojibake). Score = number of damaged
    fields in the row.
    """
    cols = text_columns(df, spec) + [c for c in spec.label if c in df.columns]
    title = title_column(df, spec)
    damaged = np.zeros(len(df), dtype=float)
    per_column: dict[str, dict[str, int]] = {}
    summary: dict[str, Any] = {}
    for col in cols:
        text = as_text(df[col])
        fffd = text.str.contains(REPLACEMENT_CHAR, regex=False).to_numpy()
        non_ascii = text.str.contains(r"[^\x00-\x7f]", regex=True).to_numpy() & ~fffd
        moji = np.zeros(len(df), dtype=bool)
        idx = np.flatnonzero(non_ascii)
        if len(idx):
            moji[idx] = [is_mojibake(t) for t in text.iloc[idx].tolist()]
        bad = fffd | moji
        damaged += bad
        per_column[col] = {"replacement_char": int(fffd.sum()), "mojibake": int(moji.sum()), "damaged": int(bad.sum())}
        if col == title:
            summary["damaged_titles"] = int(bad.sum())
            summary["titles_with_replacement_char"] = int(fffd.sum())
            summary["titles_with_mojibake"] = int(moji.sum())
    flags = damaged > 0
    summary = {"rows_damaged": int(flags.sum()), **summary}
    for col, v in per_column.items():
        summary[f"damaged:{col}"] = v["damaged"]
    return CheckResult(
        name="encoding_damage",
        description="U+FFFD replacement characters and mojibake (text ftfy would repair) in text and label columns.",
        flags=flags,
        scores=damaged,
        summary=summary,
        examples=example_rows(df, flags, damaged),
        details={"per_column": per_column},
    )
