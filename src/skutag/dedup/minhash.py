"""MinHash signatures computed for many texts at once with numpy.

The permutations and the arithmetic are datasketch's own ``affine32`` scheme, so a signature equals
``datasketch.MinHash(num_perm, seed, hashfunc=identity)`` fed with the same shingle hashes (tested).
"""

from __future__ import annotations

import numpy as np
from datasketch import MinHash
from datasketch.minhash import _fmix

#: Bound on shingles × permutations held at once (uint32): about 64 MiB.
_BLOCK_CELLS = 16_000_000
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
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    block = max(1, _BLOCK_CELLS // num_perm)
    i = 0
    while i < len(nonempty):
        start = offsets[nonempty[i]]
        j = int(np.searchsorted(offsets[nonempty + 1], start + block, side="right"))
        j = max(j, i + 1)
        docs = nonempty[i:j]
        stop = offsets[docs[-1] + 1]
        with np.errstate(over="ignore"):
            perm = mixed[start:stop, None] * a[None, :] + b[None, :]
        sig[docs] = np.minimum.reduceat(perm, offsets[docs] - start, axis=0)
        i = j
    return sig
