"""Locality-sensitive hashing over signature bands, done with numpy sorts, and candidate verification."""

from __future__ import annotations

import numpy as np

_PAIR_BLOCK = 1_000_000


def band_params(threshold: float, num_perm: int, *, recall: float = 0.95) -> tuple[int, int]:
    """(bands, rows per band): the most rows per band (fewest false candidates) whose chance of making a
    pair with Jaccard ``threshold`` a candidate is at least ``recall``."""
    best = (num_perm, 1)
    for r in range(1, num_perm + 1):
        b = num_perm // r
        if 1 - (1 - threshold**r) ** b >= recall:
            best = (b, r)
    return best


def band_keys(sig: np.ndarray) -> np.ndarray:
    """One uint64 bucket key per signature row from its values in one band (``sig``: the band's columns)."""
    key = np.zeros(len(sig), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(sig.shape[1]):
            key = (key ^ sig[:, j].astype(np.uint64)) * np.uint64(0x100000001B3) + np.uint64(j)
            key ^= key >> np.uint64(29)
    return key


def bucket_pairs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (positions into ``key``, the smaller first) among items sharing a bucket key: each item
    paired with the previous one of its bucket and with the bucket's first, in the order the items come."""
    order = np.argsort(key, kind="stable")
    sk = key[order]
    same = np.empty(len(sk), dtype=bool)
    if len(sk):
        same[0] = False
        same[1:] = sk[1:] == sk[:-1]
    pos = np.arange(len(sk))
    bucket_start = np.maximum.accumulate(np.where(same, 0, pos))
    sel = np.flatnonzero(same)
    left = np.concatenate([order[sel - 1], order[bucket_start[sel]]])
    right = np.concatenate([order[sel], order[sel]])
    keep = left != right
    left, right = left[keep], right[keep]
    if len(left):
        packed = np.unique(np.minimum(left, right).astype(np.int64) << 32 | np.maximum(left, right))
        left, right = packed >> 32, packed & 0xFFFFFFFF
    return left, right


def band_candidates(sig: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs from one band: rows sharing the band key, each paired with the previous row and
    with the first row of its bucket. ``rows`` are the signature rows taking part."""
    left, right = bucket_pairs(band_keys(sig[rows]))
    return rows[left], rows[right]


def verify_pairs(sig: np.ndarray, left: np.ndarray, right: np.ndarray, threshold: float) -> np.ndarray:
    """Mask of pairs whose estimated Jaccard similarity (share of equal signature values) >= threshold."""
    ok = np.zeros(len(left), dtype=bool)
    for s in range(0, len(left), _PAIR_BLOCK):
        e = s + _PAIR_BLOCK
        eq = (sig[left[s:e]] == sig[right[s:e]]).mean(axis=1)
        ok[s:e] = eq >= threshold - 1e-9
    return ok
