"""Precision, recall and F1 of attribute-value extraction, per attribute and overall (micro).

Per (offer, attribute) asked for: a correct value is a true positive; a wrong value counts against both
precision and recall; a value where the gold is n/a against precision; no value where there is one against
recall (the counting of Brinkmann et al. 2024 for WDC-PAVE). Values compare after lower-casing and
whitespace collapsing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from skutag.extraction.normalise import exact_key as norm  # the WDC-PAVE comparison


@dataclass
class ExtractionReport:
    """Overall micro precision/recall/F1 and a per-attribute table."""

    precision: float
    recall: float
    f1: float
    per_attribute: pd.DataFrame = field(default_factory=pd.DataFrame)
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "counts": self.counts,
            "per_attribute": self.per_attribute.to_dict(orient="records"),
        }


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score_extractions(
    gold: Sequence[dict[str, list[str]]], predicted: Sequence[dict[str, str]], key: Callable[[str], str] = norm
) -> ExtractionReport:
    """Compare per-offer gold ``{attr: [values]}`` (empty = n/a) with predicted ``{attr: value}``; values match when
    their ``key`` is equal (default: WDC-PAVE's lower-case comparison; ``normalise.value_key`` for normalised)."""
    stats: dict[str, list[int]] = {}
    for g, pred in zip(gold, predicted, strict=True):
        for attr, values in g.items():
            s = stats.setdefault(attr, [0, 0, 0, 0])  # tp, fp, fn, support
            truth = {key(v) for v in values}
            s[3] += bool(truth)
            guess = pred.get(attr)
            if guess is None or not key(guess):
                s[2] += bool(truth)
            elif key(guess) in truth:
                s[0] += 1
            else:
                s[1] += 1
                s[2] += bool(truth)
    rows = []
    for attr, (tp, fp, fn, sup) in sorted(stats.items()):
        p, r, f = _prf(tp, fp, fn)
        rows.append(
            {"attribute": attr, "precision": p, "recall": r, "f1": f, "support": sup, "tp": tp, "fp": fp, "fn": fn}
        )
    table = pd.DataFrame(rows, columns=["attribute", "precision", "recall", "f1", "support", "tp", "fp", "fn"])
    tp, fp, fn = (int(table[c].sum()) for c in ("tp", "fp", "fn"))
    p, r, f = _prf(tp, fp, fn)
    table = table.sort_values(["support", "attribute"], ascending=[False, True]).reset_index(drop=True)
    return ExtractionReport(p, r, f, table, {"tp": tp, "fp": fp, "fn": fn})
