"""Occlusion: the probability of the path lost when one word is blanked. Any model kind (only its path
probability is used); costs one prediction per word, all in one batch."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from skutag.explain.scoring import path_probability
from skutag.explain.spans import Span, Token, remove
from skutag.models.base import CategoryModel

TARGET = "probability of the path lost when that word alone is blanked"


def occlusion_spans(
    model: CategoryModel, texts: Sequence[str], toks: Sequence[Token], path: Sequence[str]
) -> tuple[list[Span], float]:
    """Word spans weighted by the probability lost without each word, and the row's probability."""
    rows = [list(texts)] + [remove(texts, toks, [i]) for i in range(len(toks))]
    frame = pd.DataFrame(rows, columns=list(model.text_columns_), dtype=object)
    p = path_probability(model, frame, [path] * len(rows))
    base = float(p[0])
    spans = [Span(t.field, t.start, t.end, t.text, base - float(p[i + 1])) for i, t in enumerate(toks)]
    return spans, base
