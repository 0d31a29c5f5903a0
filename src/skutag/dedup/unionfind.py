"""Groups from pairs: connected components (scipy) labelled by the position of their first row."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def groups_from_pairs(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Union of the pairs ``(left[i], right[i])`` over ``n`` rows: an int64 group id per row, the smallest
    row position in its group (a row in no pair is its own group)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if len(left) == 0:
        return np.arange(n, dtype=np.int64)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    ncomp, labels = connected_components(graph, directed=False)
    first = np.full(ncomp, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n, dtype=np.int64))
    return first[labels]


def first_positions(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Group id per row from integer codes (equal code = same group): the first position holding that
    code; rows where ``valid`` is False are their own group."""
    n = len(codes)
    groups = np.arange(n, dtype=np.int64)
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return groups
    c = codes[idx]
    first = np.full(int(c.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, c, idx)
    groups[idx] = first[c]
    return groups
