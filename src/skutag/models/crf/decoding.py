"""Linear-chain CRF inference in numpy: Viterbi (best label path) and forward-backward (per-position label
marginals), batched over padded sequences.

The score of a label path is the sum of its state scores and of the transitions between consecutive labels,
with no start or end transitions (crfsuite's first-order CRF), so decoding here matches crfsuite's tagger.
Padded positions (``lengths[b] <= t``) carry the previous state through unchanged.
"""

from __future__ import annotations

import numpy as np


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def _mask(lengths: np.ndarray, steps: int) -> np.ndarray:
    return np.arange(steps)[None, :] < lengths[:, None]  # (B, T)


def viterbi(emissions: np.ndarray, transitions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Best label ids per position, shape (B, T) (padded positions hold 0).

    ``emissions``: (B, T, L) state scores; ``transitions``: (L, L), from label (row) to label (column);
    ``lengths``: (B,) true lengths, each >= 1.
    """
    b, steps, n_labels = emissions.shape
    mask = _mask(lengths, steps)
    score = emissions[:, 0].copy()  # (B, L)
    back = np.zeros((b, steps, n_labels), dtype=np.int64)
    identity = np.broadcast_to(np.arange(n_labels), (b, n_labels))
    for t in range(1, steps):
        cand = score[:, :, None] + transitions[None]  # (B, from, to)
        best_from = cand.argmax(axis=1)  # (B, to)
        new = np.take_along_axis(cand, best_from[:, None, :], axis=1)[:, 0] + emissions[:, t]
        live = mask[:, t][:, None]
        score = np.where(live, new, score)
        back[:, t] = np.where(live, best_from, identity)
    path = np.zeros((b, steps), dtype=np.int64)
    last = score.argmax(axis=1)
    path[:, steps - 1] = last
    for t in range(steps - 1, 0, -1):
        last = back[np.arange(b), t, last]
        path[:, t - 1] = last
    return np.where(mask, path, 0)


def marginals(emissions: np.ndarray, transitions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """P(label at position t | sequence), shape (B, T, L), by forward-backward in log space (padded rows 0)."""
    b, steps, n_labels = emissions.shape
    mask = _mask(lengths, steps)
    alpha = np.zeros((b, steps, n_labels))
    alpha[:, 0] = emissions[:, 0]
    for t in range(1, steps):
        new = _logsumexp(alpha[:, t - 1, :, None] + transitions[None], axis=1) + emissions[:, t]
        alpha[:, t] = np.where(mask[:, t][:, None], new, alpha[:, t - 1])
    beta = np.zeros((b, steps, n_labels))
    for t in range(steps - 2, -1, -1):
        new = _logsumexp(transitions[None] + (emissions[:, t + 1] + beta[:, t + 1])[:, None, :], axis=2)
        beta[:, t] = np.where(mask[:, t + 1][:, None], new, 0.0)
    log_z = _logsumexp(alpha[np.arange(b), lengths - 1], axis=1)  # (B,)
    probs = np.exp(alpha + beta - log_z[:, None, None])
    return np.where(mask[:, :, None], probs, 0.0)
