"""The probability of a given path for any model kind: what every method explains and faithfulness measures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from skutag.errors import ConfigError
from skutag.models.base import CategoryModel


def path_index(model: CategoryModel, path: Sequence[str]) -> int:
    """Index of ``path`` in a path model's table (ConfigError when the model cannot predict it)."""
    names = model.path_names()  # type: ignore[attr-defined]
    lookup = model.__dict__.setdefault("_explain_path_index", {})
    if len(lookup) != len(names):
        lookup.clear()
        lookup.update({p: i for i, p in enumerate(names)})
    i = lookup.get(tuple(path))
    if i is None:
        raise ConfigError(f"path {' > '.join(path)!r} is not one the model predicts")
    return int(i)


def path_probability(model: CategoryModel, frame: pd.DataFrame, paths: Sequence[Sequence[str]]) -> np.ndarray:
    """P(``paths[i]`` | row i) for each row of ``frame`` (a path model's path probability; otherwise the
    marginal of the path's deepest class)."""
    if len(frame) == 0:
        return np.zeros(0)
    if model.scores_paths:
        prob = model.predict_path_proba(frame)  # type: ignore[attr-defined]
        cols = np.array([path_index(model, p) for p in paths])
        return np.asarray(prob[np.arange(len(frame)), cols], dtype=float)
    levels = model.predict_proba(frame)
    out = np.zeros(len(frame))
    for i, p in enumerate(paths):
        table = levels[len(p) - 1]
        out[i] = float(table.iloc[i][p[-1]]) if p[-1] in table.columns else 0.0
    return out


def best_paths(model: CategoryModel, frame: pd.DataFrame) -> list[list[str]]:
    """The predicted path of each row."""
    if len(frame) == 0:
        return []
    return [list(p[0]) for p in model.predict_topk(frame, k=1).paths]
