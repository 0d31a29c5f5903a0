"""The result every quality check returns: per-row flags and scores plus a JSON-ready summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.schema import ROW_COL

#: How many example row ids a check reports.
MAX_EXAMPLES = 10


@dataclass
class CheckResult:
    """Outcome of one check.

    ``flags[i]`` is True when row ``i`` (position in the checked frame) has the problem; ``scores[i]`` says
    how bad it is, higher = worse (0 for clean rows). ``summary`` holds counts, ``examples`` up to
    ``MAX_EXAMPLES`` row ids (``_row`` values) of flagged rows, ``details`` any extra tables (per-class or
    per-column counts, group listings).
    """

    name: str
    description: str
    flags: np.ndarray
    scores: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)
    examples: list[Any] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def n_flagged(self) -> int:
        return int(np.count_nonzero(self.flags))

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (flags and scores are summarised, not listed)."""
        return {
            "name": self.name,
            "description": self.description,
            "flagged_rows": self.n_flagged,
            "summary": _jsonable(self.summary),
            "examples": _jsonable(self.examples),
            "details": _jsonable(self.details),
        }


def row_ids(df: pd.DataFrame) -> np.ndarray:
    """The ``_row`` ids of ``df`` (1-based positions when the column is absent)."""
    if ROW_COL in df.columns:
        return df[ROW_COL].to_numpy()
    return np.arange(1, len(df) + 1)


def example_rows(
    df: pd.DataFrame, flags: np.ndarray, scores: np.ndarray | None = None, k: int = MAX_EXAMPLES
) -> list[Any]:
    """Up to ``k`` row ids of flagged rows, worst first when ``scores`` is given."""
    idx = np.flatnonzero(flags)
    if scores is not None and len(idx):
        idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [_scalar(v) for v in row_ids(df)[idx[:k]]]


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj
