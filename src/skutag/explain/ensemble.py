"""Ensemble explanations: each member's word weights times its blend weight, and the neighbour votes' evidence
(the most similar indexed rows that voted, with their paths and similarities).

A neighbour is named by its row in the index and its path; the ensemble's index also says whether the row is a
training product or a path's own label (``kind``) and keeps its title (``text``; indexes saved before it kept
titles have none)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from skutag.models.neighbours.hybrid import unit_rows


def hybrid_neighbours(model: Any, frame: pd.DataFrame, k: int | None = None) -> list[list[dict[str, Any]]]:
    """Per row of ``frame``, the ``k`` (default: the index's) most similar indexed rows, among those that vote."""
    index = getattr(model, "neighbours_", None)
    if index is None or len(index) == 0 or len(frame) == 0:
        return [[] for _ in range(len(frame))]
    models = model._neighbour_models()
    queries = [unit_rows(m.neighbour_features(frame)) for m in models]
    sims = np.zeros((len(frame), len(index)), dtype=np.float32)
    for q, part, w in zip(queries, index.parts, index.weights, strict=True):
        prod: Any = q @ part.T
        sims += np.float32(w) * (prod.toarray() if sp.issparse(prod) else np.asarray(prod))
    found = _top(sims, index.paths, model.path_names(), min(k or index.k, index.k))  # only rows that voted
    for row in found:
        for n in row:
            n["kind"] = "product" if index.is_product(n["row"]) else "label"
            text = index.text(n["row"])
            if text is not None:
                n["text"] = text
    return found


def knn_neighbours(model: Any, frame: pd.DataFrame, k: int | None = None) -> list[list[dict[str, Any]]]:
    """The same for a neural model's own index (``knn_index_``: unit embeddings of training products)."""
    index = getattr(model, "knn_index_", None)
    if index is None or len(index) == 0 or index.weight <= 0 or len(frame) == 0:
        return [[] for _ in range(len(frame))]
    _, pooled = model.path_proba_and_features(frame, neighbours=False)
    if pooled is None:
        return [[] for _ in range(len(frame))]
    table = np.asarray(index.embeddings, dtype=np.float32)
    q = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return _top(q @ table.T, index.paths, model.path_names(), min(k or index.k, index.k))


def _top(sims: np.ndarray, paths: np.ndarray, names: Sequence[tuple[str, ...]], k: int) -> list[list[dict[str, Any]]]:
    out = []
    k = min(k, sims.shape[1])
    for row in sims:
        best = np.argpartition(-row, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
        best = best[np.argsort(-row[best])]
        out.append(
            [{"row": int(j), "path": list(names[int(paths[j])]), "similarity": round(float(row[j]), 4)} for j in best]
        )
    return out
