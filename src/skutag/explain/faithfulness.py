"""ERASER faithfulness (DeYoung et al., 2020) of word explanations, for any model kind.

For a row, the rationale is the top ``fraction`` of its words by weight (at least one word):
comprehensiveness = p(path | text) - p(path | text without the rationale) (higher: the words mattered);
sufficiency = p(path | text) - p(path | the rationale alone) (lower: the words were enough).
Removed words are blanked, as occlusion blanks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skutag.explain.scoring import path_probability
from skutag.explain.spans import Token, keep_only, remove, tokens
from skutag.models.base import CategoryModel


@dataclass
class Faithfulness:
    """Per row: comprehensiveness and sufficiency; their means."""

    comprehensiveness: np.ndarray
    sufficiency: np.ndarray

    @property
    def mean_comprehensiveness(self) -> float:
        return float(np.mean(self.comprehensiveness)) if len(self.comprehensiveness) else float("nan")

    @property
    def mean_sufficiency(self) -> float:
        return float(np.mean(self.sufficiency)) if len(self.sufficiency) else float("nan")


def rationale(weights: Sequence[float], fraction: float = 0.2) -> list[int]:
    """Indices of the top ``fraction`` of words by weight (ceil, at least one; ties: the earlier word)."""
    if not len(weights):
        return []
    k = max(1, math.ceil(fraction * len(weights)))
    order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    return order[:k]


def faithfulness(
    model: CategoryModel,
    frame: pd.DataFrame,
    paths: Sequence[Sequence[str]],
    word_weights: Sequence[Sequence[float]],
    fraction: float = 0.2,
) -> Faithfulness:
    """ERASER comprehensiveness and sufficiency of one weight per word (the :func:`tokens` of each row of
    ``frame``) for ``paths``: three predictions per row, in one batch."""
    cols = list(model.text_columns_)
    full, without, alone = [], [], []
    for i in range(len(frame)):
        texts = [str(v) for v in frame.iloc[i].tolist()]
        toks: list[Token] = tokens(texts, cols)
        if len(word_weights[i]) != len(toks):
            raise ValueError(f"row {i}: {len(word_weights[i])} weights for {len(toks)} words")
        top = rationale(list(word_weights[i]), fraction)
        full.append(texts)
        without.append(remove(texts, toks, top))
        alone.append(keep_only(texts, toks, top))
    n = len(frame)
    batch = pd.DataFrame(full + without + alone, columns=cols, dtype=object)
    p = path_probability(model, batch, list(paths) * 3)
    return Faithfulness(p[:n] - p[n : 2 * n], p[:n] - p[2 * n :])
