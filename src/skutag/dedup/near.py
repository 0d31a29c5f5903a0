"""Near-duplicates with MinHash-LSH: exact duplicates first, then MinHash over the unique texts only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from skutag.dedup.exact import exact_duplicate_groups
from skutag.dedup.keys import matching_key, valid_mask
from skutag.dedup.lsh import band_candidates, band_params, verify_pairs
from skutag.dedup.minhash import signatures
from skutag.dedup.shingles import parse_shingle, shingle_hashes
from skutag.dedup.unionfind import groups_from_pairs
from skutag.errors import ConfigError
from skutag.log import get_logger

log = get_logger(__name__)
_TEXT_BATCH = 50_000


def minhash_signatures(
    texts: Any, *, num_perm: int = 64, shingle: str = "word3", seed: int = 1, normalized: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Signatures of all texts (batched) and a mask of texts that have at least one shingle.
    ``normalized``: the texts are already matching keys (:func:`skutag.dedup.keys.matching_key`)."""
    arr = texts if normalized and isinstance(texts, pa.Array) else matching_key(texts)
    n = len(arr)
    sig = np.empty((n, num_perm), dtype=np.uint32)
    has = np.zeros(n, dtype=bool)
    for s in range(0, n, _TEXT_BATCH):
        part = arr.slice(s, _TEXT_BATCH)
        hashes, offsets = shingle_hashes(part, shingle, normalized=True)
        sig[s : s + len(part)] = signatures(hashes, offsets, num_perm=num_perm, seed=seed)
        has[s : s + len(part)] = offsets[1:] > offsets[:-1]
    return sig, has


def near_duplicate_groups(
    texts: Sequence[str | None] | Any,
    *,
    threshold: float = 0.8,
    num_perm: int = 64,
    shingle: str = "word3",
    seed: int = 1,
) -> np.ndarray:
    """An int64 group id per row (the position of the first row of its group): rows whose shingle sets
    have estimated Jaccard similarity >= ``threshold`` (and exact duplicates) share a group, transitively.
    Missing or blank texts, and texts without any shingle, are each their own group."""
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    if num_perm < 2:
        raise ConfigError(f"num_perm must be at least 2, got {num_perm}")
    parse_shingle(shingle)
    keys = matching_key(texts)
    n = len(keys)
    exact = exact_duplicate_groups(keys)
    reps = np.flatnonzero((exact == np.arange(n)) & valid_mask(keys))
    log.debug("near-duplicates: %d rows, %d unique texts", n, len(reps))
    sig, has = minhash_signatures(
        keys.take(pa.array(reps)), num_perm=num_perm, shingle=shingle, seed=seed, normalized=True
    )
    rows = np.flatnonzero(has)
    bands, r = band_params(threshold, num_perm)
    lefts, rights = [], []
    for b in range(bands):
        left, right = band_candidates(sig[:, b * r : (b + 1) * r], rows)
        ok = verify_pairs(sig, left, right, threshold)
        lefts.append(left[ok])
        rights.append(right[ok])
    local = groups_from_pairs(
        len(reps),
        np.concatenate(lefts) if lefts else np.zeros(0, np.int64),
        np.concatenate(rights) if rights else np.zeros(0, np.int64),
    )
    g = np.arange(n, dtype=np.int64)
    g[reps] = reps[local]
    return g[exact]
