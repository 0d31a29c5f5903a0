"""From a tagger's raw score to a confidence that means something, and from that to auto-accept thresholds.

Raw span scores (mean token probability) are over-confident; an isotonic map fitted on held-out rows (score ->
share of values that were right) makes them calibrated. Per attribute, a precision table over thresholds lets the
server pick the lowest threshold that reaches its target precision, as it does for categories.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: thresholds the precision tables are made on
GRID = np.round(np.arange(0.0, 1.0001, 0.02), 2)
#: fewer held-out values than this for an attribute: its decisions use the table of all attributes
MIN_SUPPORT = 20


class ConfidenceMap:
    """Monotone map raw score -> probability of being right (identity until fitted)."""

    def __init__(
        self, xs: Sequence[float] = (0.0, 1.0), ys: Sequence[float] = (0.0, 1.0), fitted: bool = False
    ) -> None:
        self.xs = np.asarray(xs, dtype=float)
        self.ys = np.asarray(ys, dtype=float)
        self.fitted = fitted

    @classmethod
    def fit(cls, scores: Sequence[float], correct: Sequence[bool]) -> ConfidenceMap:
        """Isotonic regression of ``correct`` on ``scores``; the identity with fewer than 10 points or one class."""
        s, c = np.asarray(scores, dtype=float), np.asarray(correct, dtype=float)
        if len(s) < 10 or c.min(initial=1) == c.max(initial=0):
            return cls()
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, c)
        return cls(iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist(), True)

    def __call__(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        return np.clip(np.interp(np.asarray(scores, dtype=float), self.xs, self.ys), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"xs": self.xs.round(6).tolist(), "ys": self.ys.round(6).tolist(), "fitted": self.fitted}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ConfidenceMap:
        if not d:
            return cls()
        return cls(d["xs"], d["ys"], bool(d.get("fitted")))


def precision_table(
    confidence: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray
) -> list[list[float]]:
    """``[threshold, precision, n]`` rows over :data:`GRID`: the precision of the values at or above each threshold."""
    conf, ok = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    rows = []
    for t in GRID:
        sel = conf >= t
        n = int(sel.sum())
        rows.append([float(t), round(float(ok[sel].mean()), 4) if n else 0.0, n])
    return rows


def threshold_for(table: list[list[float]] | None, target: float, min_support: int = MIN_SUPPORT) -> float | None:
    """The lowest threshold whose values reach ``target`` precision (with ``min_support`` of them); None: none does."""
    for t, precision, n in table or []:
        if n >= min_support and precision >= target:
            return float(t)
    return None
