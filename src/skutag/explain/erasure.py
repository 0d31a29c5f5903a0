"""Greedy erasure: blank, round after round, the word whose removal lowers P(path) most given the words already
blanked. Any model kind (only its path probability is used).

Round 1 is occlusion (the unchanged text and every word blanked alone, one batch); each further round is one
batched prediction over the words still there, with the words erased so far blanked. Erasure stops after
``fraction`` of the words (ceil, at least one; at most ``max_rounds`` rounds and ``max_predictions`` texts
predicted in all), when no remaining word lowers P(path), or once P(path) has fallen to ``floor`` times its value on
the unchanged text (no evidence left to find).
The erased words rank first, in erasure order; the others follow by what blanking each of them lost in the last
round.

Weights are probabilities of the path lost. An erased word weighs what blanking it *and every word erased after
it* took away, the words erased before it being blank already: erased words' weights decrease strictly in erasure
order, and the first one is the whole erasure's loss. A word not erased weighs what blanking it lost in the last
round (given the words erased before that round), never more than the last erased word. Greedy removal seeks the
set of words whose absence the model notices most (what ERASER comprehensiveness measures) where occlusion ranks
words one by one: a word whose evidence another word repeats loses little alone, and much once that other word is
gone. Cost: one batched prediction per round, the first the size of occlusion's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from skutag.explain.scoring import path_probability
from skutag.explain.spans import Span, Token, remove
from skutag.models.base import CategoryModel

TARGET = (
    "probability of the path lost by blanking the word and every word erased after it, higher-ranked words "
    "already blank (greedy erasure); a word not erased: what blanking it lost in the last round"
)
#: Default share of the words erased greedily (ceil, at least one): a quarter, a little more than the top 20%
#: that ERASER-style faithfulness scores (docs/benchmarks.md).
FRACTION = 0.25
#: At most this many rounds (batched predictions) whatever the text's length: past them, words rank by the last
#: round's losses.
MAX_ROUNDS = 10
#: At most this many texts predicted in all (round 1 always runs): 200 words, occlusion's limit, cost 5 rounds,
#: about five times occlusion; a 75-word offer still gets its 10 rounds.
MAX_PREDICTIONS = 1000
#: Erasure stops once P(path) is at most this share of its value on the unchanged text.
FLOOR = 0.05


def erasure_spans(
    model: CategoryModel,
    texts: Sequence[str],
    toks: Sequence[Token],
    path: Sequence[str],
    fraction: float = FRACTION,
    max_rounds: int = MAX_ROUNDS,
    floor: float = FLOOR,
    max_predictions: int = MAX_PREDICTIONS,
) -> tuple[list[Span], float, list[int]]:
    """Word spans weighted by greedy erasure (see the module), P(path) on the unchanged text, and the erased
    words' indices into ``toks`` in erasure order."""
    cols = list(model.text_columns_)
    n = len(toks)
    rounds = min(max_rounds, max(1, math.ceil(fraction * n)))
    erased: list[int] = []
    probs: list[float] = []  # P(path) with the first j erased words blank, j = 0, 1, ...
    last: dict[int, float] = {}  # what blanking each word still there lost in the latest round
    predicted = 0
    for r in range(rounds):
        rest = [i for i in range(n) if i not in erased]
        if r > 0 and predicted + len(rest) > max_predictions:
            break
        rows = [remove(texts, toks, [*erased, i]) for i in rest]
        if r == 0:
            rows.insert(0, list(texts))
        p = path_probability(model, pd.DataFrame(rows, columns=cols, dtype=object), [path] * len(rows))
        predicted += len(rows)
        if r == 0:
            probs.append(float(p[0]))
            p = p[1:]
        if not rest:
            break
        drops = probs[-1] - np.asarray(p, dtype=float)
        last = {i: float(d) for i, d in zip(rest, drops, strict=True)}
        best = int(np.argmax(drops))  # ties: the earlier word
        if drops[best] <= 0:
            break
        erased.append(rest[best])
        probs.append(float(p[best]))
        del last[rest[best]]
        if probs[-1] <= floor * probs[0]:
            break
    weights = [last.get(i, 0.0) for i in range(n)]
    for j, i in enumerate(erased):
        weights[i] = probs[j] - probs[-1]
    spans = [Span(t.field, t.start, t.end, t.text, weights[i]) for i, t in enumerate(toks)]
    return spans, probs[0], erased
