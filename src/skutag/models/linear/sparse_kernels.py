"""Compiled (numba) kernel for the linear model's sparse features x dense coefficients product.

The product is bound by memory traffic: every non-zero reads one coefficient row (one float per class).
The kernel groups the non-zeros by feature first (a counting sort) so each coefficient row is read once
per chunk however many rows of the chunk hold that n-gram (common n-grams are in many rows); the small
output block stays in cache. It releases the GIL, so prediction chunks run in parallel threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _accumulate(out: np.ndarray, rows: np.ndarray, cols: np.ndarray, data: np.ndarray, coef: np.ndarray) -> None:
    for p in range(rows.shape[0]):
        r = rows[p]
        c = cols[p]
        v = data[p]
        for j in range(out.shape[1]):
            out[r, j] += v * coef[c, j]


@njit(nogil=True, cache=True)
def _add_product(out: np.ndarray, rows: np.ndarray, cols: np.ndarray, data: np.ndarray, coef: np.ndarray) -> None:
    nnz = rows.shape[0]
    n_feat = coef.shape[0]
    if nnz * 16 < n_feat:
        # a few rows (a served request): the counting sort's pass over every feature would dominate
        _accumulate(out, rows, cols, data, coef)
        return
    start = np.zeros(n_feat + 1, np.int64)
    for p in range(nnz):
        start[cols[p] + 1] += 1
    for c in range(n_feat):
        start[c + 1] += start[c]
    s_rows = np.empty(nnz, np.int64)
    s_cols = np.empty(nnz, np.int64)
    s_data = np.empty(nnz, np.float32)
    for p in range(nnz):
        c = cols[p]
        q = start[c]
        start[c] = q + 1
        s_rows[q] = rows[p]
        s_cols[q] = c
        s_data[q] = data[p]
    _accumulate(out, s_rows, s_cols, s_data, coef)


def add_sparse_product(out: np.ndarray, rows: np.ndarray, cols: np.ndarray, data: np.ndarray, coef: np.ndarray) -> None:
    """``out[rows[i]] += data[i] * coef[cols[i]]`` for every i (float32 throughout, in place on ``out``).

    Contributions to one output row are summed in feature order (for a few rows, in input order), so results
    match a scipy product up to float rounding."""
    if out.dtype != np.float32 or coef.dtype != np.float32 or not coef.flags.c_contiguous:
        raise TypeError("add_sparse_product needs C-contiguous float32 out and coef")
    if not out.flags.c_contiguous or out.shape[1] != coef.shape[1]:
        raise TypeError("add_sparse_product needs a C-contiguous out with one column per coefficient column")
    if not (len(rows) == len(cols) == len(data)):
        raise ValueError("rows, cols and data differ in length")
    if len(rows) == 0:
        return
    if rows.min() < 0 or rows.max() >= out.shape[0] or cols.min() < 0 or cols.max() >= coef.shape[0]:
        raise IndexError("sparse product index out of range")
    _add_product(
        out,
        np.asarray(rows, dtype=np.int64),
        np.asarray(cols, dtype=np.int64),
        np.asarray(data, dtype=np.float32),
        coef,
    )
