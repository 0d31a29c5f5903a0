"""WDC-PAVE offers as extraction examples: text = title + newline + description, gold values per attribute."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from skutag.datasets.pave import NA_VALUE
from skutag.extraction.bio import Span, find_spans

SEPARATOR = "\n"


@dataclass
class PaveExample:
    """One offer: its text, category, the attributes asked for and their gold values (empty list = n/a)."""

    text: str
    category: str
    gold: dict[str, list[str]] = field(default_factory=dict)
    title_length: int = 0

    def spans(self) -> list[Span]:
        """Character spans of every gold value occurrence (longest values first, so they win overlaps)."""
        out: list[Span] = []
        pairs = [(a, v) for a, vals in self.gold.items() for v in vals]
        for attr, value in sorted(pairs, key=lambda av: -len(av[1])):
            out.extend((attr, s, e) for s, e in find_spans(self.text, value))
        return out


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def pave_examples(df: pd.DataFrame) -> list[PaveExample]:
    """Examples from a loaded WDC-PAVE frame (``raw`` variant: values appear verbatim in the text)."""
    out = []
    for title, desc, cat, scores in df[["input_title", "input_description", "category", "target_scores"]].itertuples(
        index=False, name=None
    ):
        t = _text(title)
        gold: dict[str, list[str]] = {}
        if isinstance(scores, dict):
            for attr, values in scores.items():
                vals = [str(v) for v in values if v != NA_VALUE] if isinstance(values, dict) else []
                gold[str(attr)] = vals
        out.append(PaveExample(t + SEPARATOR + _text(desc), str(cat), gold, len(t)))
    return out
