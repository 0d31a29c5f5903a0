"""MinHash signatures computed for many texts at once with numpy.

The permutations and the arithmetic are datasketch's own ``affine32`` scheme, so a signature equals
``datasketch.MinHash(num_perm, seed, hashfunc=identity)`` fed with the same shingle hashes (tested).
"""

from __future__ import annotations

import numpy as np
from datasketch import MinHash
from datasketch.minhash import _fmix

EMPTY = np.uint32(0xFFFFFFFF)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's (a, b) permutation parameters for ``num_perm`` and ``seed``."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


def signatures(hashes: np.ndarray, offsets: np.ndarray, *, num_perm: int = 64, seed: int = 1) -> np.ndarray:
    """A ``(n_texts, num_perm)`` uint32 signature matrix; a text without shingles gets all ``EMPTY``."""
    n = len(offsets) - 1
    sig = np.full((n, num_perm), EMPTY, dtype=np.uint32)
    if n == 0 or len(hashes) == 0:
        return sig
    a, b = permutations(num_perm, seed)
    with np.errstate(over="ignore"):
        mixed = _fmix(hashes.astype(np.uint32), 32).astype(np.uint32)
    lengths = np.diff(offsets)
    # Longest texts first, so the texts still having a j-th shingle are always a prefix.
    order = np.argsort(-lengths, kind="stable")
    starts = offsets[:-1][order]
    sorted_len = lengths[order]
    active = int(np.count_nonzero(sorted_len))
    out = sig[:0]
    work = np.full((active, num_perm), EMPTY, dtype=np.uint32)
    tmp = np.empty((active, num_perm), dtype=np.uint32)
    j = 0
    while active:
        h = mixed[starts[:active] + j]
        out = tmp[:active]
        with np.errstate(over="ignore"):
            np.multiply(h[:, None], a[None, :], out=out)
            out += b[None, :]
        np.minimum(work[:active], out, out=work[:active])
        j += 1
        while active and sorted_len[active - 1] <= j:
            active -= 1
    del out
    nz = int(np.count_nonzero(sorted_len))
    sig[order[:nz]] = work
    return sig
