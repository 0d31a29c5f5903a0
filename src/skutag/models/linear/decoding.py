"""The linear model's path decoding, compiled (numba): raw SVM scores to P(path), for a chunk of rows or one.

Per row: each level's scores times its temperature, log-softmaxed; each path's score is the sum over levels of its
nodes' log-probabilities (:func:`skutag.models.paths.path_log_scores`), times the path temperature, softmaxed. One
loop per row and no temporaries: faster than the numpy expression of the same sums on a 4,096-row chunk, and about
15x faster on one row, where the numpy version's fixed cost per call was most of the work. Batch prediction and the
one-title fast path run this same kernel, so their probabilities are identical.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _path_proba(
    scores: np.ndarray,
    offsets: np.ndarray,
    level_t: np.ndarray,
    paths: np.ndarray,
    path_t: float,
    out: np.ndarray,
) -> None:
    n_levels = offsets.shape[0] - 1
    logp = np.empty(scores.shape[1], np.float64)
    for r in range(scores.shape[0]):
        for lv in range(n_levels):
            lo = offsets[lv]
            hi = offsets[lv + 1]
            t = level_t[lv]
            top = -np.inf
            for j in range(lo, hi):
                z = np.float64(scores[r, j]) * t
                logp[j] = z
                top = max(top, z)
            total = 0.0
            for j in range(lo, hi):
                logp[j] -= top
                total += np.exp(logp[j])
            log_total = np.log(total)
            for j in range(lo, hi):
                logp[j] -= log_total
        row = out[r]
        top = -np.inf
        for p in range(paths.shape[0]):
            s = 0.0
            for lv in range(n_levels):
                s += logp[offsets[lv] + paths[p, lv]]
            s *= path_t
            row[p] = s
            top = max(top, s)
        total = 0.0
        for p in range(paths.shape[0]):
            e = np.exp(row[p] - top)
            row[p] = e
            total += e
        for p in range(paths.shape[0]):
            row[p] /= total


def path_proba(
    scores: np.ndarray, offsets: np.ndarray, level_temperature: np.ndarray, paths: np.ndarray, path_temperature: float
) -> np.ndarray:
    """P(path) (rows x paths, float64) from raw scores (rows x all classes, levels side by side at ``offsets``: the
    first class of each level, then the end; ``paths`` holds class indices within each level)."""
    out = np.empty((scores.shape[0], paths.shape[0]), dtype=np.float64)
    _path_proba(scores, offsets, level_temperature, paths, float(path_temperature), out)
    return out
