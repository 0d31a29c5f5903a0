"""HTML tags and character entities left in text."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.columns import as_text, text_columns

TAG_RE = r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>"
ENTITY_RE = r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"


def check_html_remnants(df: pd.DataFrame, spec: ColumnSpec, **_: Any) -> CheckResult:
    """Count fields holding HTML tags (``<br>``, ``</p>``) or entities (``&amp;``, ``&#39;``) per text column.

    Score = number of tags and entities in the row.
    """
    cols = text_columns(df, spec)
    score = np.zeros(len(df), dtype=float)
    per_column: dict[str, dict[str, int]] = {}
    for col in cols:
        text = as_text(df[col])
        tags = text.str.count(TAG_RE).to_numpy()
        ents = text.str.count(ENTITY_RE).to_numpy()
        score += tags + ents
        per_column[col] = {
            "tags": int((tags > 0).sum()),
            "entities": int((ents > 0).sum()),
            "rows": int(((tags + ents) > 0).sum()),
        }
    flags = score > 0
    summary: dict[str, Any] = {"rows_with_html": int(flags.sum())}
    for col, v in per_column.items():
        summary[f"html:{col}"] = v["rows"]
    return CheckResult(
        name="html_remnants",
        description="HTML tags or character entities left in text columns.",
        flags=flags,
        scores=score,
        summary=summary,
        examples=example_rows(df, flags, score),
        details={"per_column": per_column},
    )
