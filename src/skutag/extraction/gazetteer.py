"""A value gazetteer from training offers: fills attributes the tagger left empty with a known value that
occurs verbatim in the text (the longest match wins). Values must have been seen ``min_count`` times for
that category and attribute, which keeps rare, ambiguous strings out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from skutag.extraction.bio import find_spans
from skutag.extraction.pave import PaveExample

Gazetteer = dict[tuple[str, str], list[str]]


def build_gazetteer(examples: Sequence[PaveExample], min_count: int = 2) -> Gazetteer:
    """(category, attribute) -> known values, longest first."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for ex in examples:
        for attr, values in ex.gold.items():
            for v in {v.strip() for v in values if len(v.strip()) > 1}:
                counts[(ex.category, attr, v)] += 1
    out: Gazetteer = {}
    for (cat, attr, value), n in counts.items():
        if n >= min_count:
            out.setdefault((cat, attr), []).append(value)
    for values in out.values():
        values.sort(key=lambda v: (-len(v), v))
    return out


def fill_missing(
    predictions: Sequence[dict[str, str]], examples: Sequence[PaveExample], gazetteer: Gazetteer
) -> list[dict[str, str]]:
    """A copy of ``predictions`` where each asked-for attribute without a value gets the longest known value
    found in the offer's text (as written in the text)."""
    out = []
    for pred, ex in zip(predictions, examples, strict=True):
        filled = dict(pred)
        for attr in ex.gold:
            if filled.get(attr):
                continue
            for value in gazetteer.get((ex.category, attr), []):
                spans = find_spans(ex.text, value)
                if spans:
                    s, e = spans[0]
                    filled[attr] = ex.text[s:e]
                    break
        out.append(filled)
    return out
