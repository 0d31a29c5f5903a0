"""Duplicate groups of a catalogue held in shards, found with one shuffle (``skutag clean --ray``).

Each shard's kept rows give, in input order, a :func:`key_table`: the matching key, the label, the record number
and (for near-duplicates) the MinHash signature. :func:`shuffle_rows` turns it into rows keyed by (band, bucket):
band -1 buckets the exact keys by their hash, bands 0..b-1 bucket the signatures by their LSH band keys. After a
sort on those two columns (the shuffle) the rows of a bucket share a partition, where :func:`bucket_edges` finds
what they have in common: the exact groups (by the key text itself, so a hash collision merges nothing) and the
verified near-duplicate pairs among the groups' first rows, paired as
:func:`~skutag.dedup.near.near_duplicate_groups` pairs them (the same candidates, the same check). :func:`resolve`
joins the edges of all partitions (union-find) into the groups one process finds over all rows at once.

A row is named by ``gpos``, its position among all kept rows in input order, as in one-process ``clean``; only
the rows in some group reach :func:`resolve`, so the driver holds memory in proportion to the duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skutag.dedup.conflicts import conflicting_label_groups
from skutag.dedup.keys import key_hashes, matching_key
from skutag.dedup.lsh import band_keys, bucket_pairs, verify_pairs
from skutag.dedup.near import minhash_signatures
from skutag.dedup.unionfind import groups_from_pairs

#: The band of the exact-key rows.
EXACT_BAND = -1
#: Edge kinds: ``a`` is the first row of ``b``'s exact group (``a == b`` for the first itself), or ``a``-``b``
#: is a verified near-duplicate pair of two groups' first rows.
EXACT, NEAR = 0, 1

SHUFFLE_SCHEMA = pa.schema(
    [
        ("band", pa.int16()),
        ("bucket", pa.uint64()),
        ("gpos", pa.int64()),
        ("khash", pa.uint64()),
        ("row", pa.int64()),
        ("src", pa.int32()),
        ("key", pa.large_string()),
        ("label", pa.large_string()),
        ("sig", pa.binary()),
    ]
)
EDGE_SCHEMA = pa.schema(
    [
        ("kind", pa.int8()),
        ("a", pa.int64()),
        ("b", pa.int64()),
        ("a_row", pa.int64()),
        ("b_row", pa.int64()),
        ("a_src", pa.int32()),
        ("b_src", pa.int32()),
        ("a_label", pa.large_string()),
        ("b_label", pa.large_string()),
    ]
)


def key_table(
    keys: pa.Array, labels: pa.Array, rows: np.ndarray, *, near: bool, num_perm: int, shingle: str
) -> pa.Table:
    """What duplicate detection needs of a shard's kept rows (in order): ``key`` (the matching key; null joins
    no group), ``label``, ``row`` (record number) and, with ``near``, ``sig`` (the MinHash signature, bytes) and
    ``has`` (the text has shingles). Signatures are computed once per distinct key of the shard."""
    mk = matching_key(keys)
    cols: dict[str, pa.Array] = {
        "key": mk,
        "label": pc.cast(labels, pa.large_string()),
        "row": pa.array(np.asarray(rows, dtype=np.int64)),
    }
    if near:
        n = len(mk)
        enc = pc.dictionary_encode(mk)
        valid = mk.is_valid().to_numpy(zero_copy_only=False)
        sig = np.zeros((n, num_perm), dtype=np.uint32)
        has = np.zeros(n, dtype=bool)
        if len(enc.dictionary):
            usig, uhas = minhash_signatures(enc.dictionary, num_perm=num_perm, shingle=shingle, normalized=True)
            idx = pc.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False)
            sig, has = usig[idx], uhas[idx] & valid
        cols["sig"] = _binary(sig)
        cols["has"] = pa.array(has)
    return pa.table(cols)


def _binary(sig: np.ndarray) -> pa.Array:
    """Signature rows as a binary array (one value of ``4 * num_perm`` bytes per row)."""
    n, width = sig.shape
    offsets = np.arange(0, (n + 1) * width * 4, width * 4, dtype=np.int32)
    data = np.ascontiguousarray(sig, dtype=np.uint32).tobytes()
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])


def _matrix(arr: pa.Array | pa.ChunkedArray, num_perm: int) -> np.ndarray:
    """The signatures of a binary column without nulls, as a ``(n, num_perm)`` uint32 matrix."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], pa.binary())
    if len(arr) == 0:
        return np.zeros((0, num_perm), dtype=np.uint32)
    arr = pc.cast(arr, pa.large_binary())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    if offsets[-1] - offsets[0] != len(arr) * num_perm * 4:
        raise ValueError("signature column holds values of another length than num_perm")
    return data.view(np.uint32).reshape(len(arr), num_perm)


def shuffle_rows(
    table: pa.Table, offset: int, src: int, *, near: bool, bands: int, rows_per_band: int, num_perm: int
) -> pa.Table:
    """The shuffle rows of one shard's :func:`key_table` (its first row at position ``offset``, from input file
    ``src``): an exact row per row with a key, and with ``near`` a row per band per row whose text has shingles
    (carrying the signature, which its bucket's partition verifies pairs with)."""
    n = table.num_rows
    gpos = np.arange(offset, offset + n, dtype=np.int64)
    key = table["key"].combine_chunks() if n else pa.array([], pa.large_string())
    label = table["label"].combine_chunks() if n else pa.array([], pa.large_string())
    row = table["row"].to_numpy()
    khash = key_hashes(key)
    valid = np.flatnonzero(key.is_valid().to_numpy(zero_copy_only=False)) if n else np.zeros(0, np.int64)
    take = pa.array(valid)
    parts = [
        _rows(EXACT_BAND, khash[valid], gpos[valid], khash[valid], row[valid], src, key.take(take), label.take(take))
    ]
    if near and n:
        sig = _matrix(table["sig"], num_perm)
        has = np.flatnonzero(table["has"].to_numpy() & key.is_valid().to_numpy(zero_copy_only=False))
        sig_has = _binary(sig[has])
        lab = label.take(pa.array(has))
        for b in range(bands):
            bucket = band_keys(sig[has, b * rows_per_band : (b + 1) * rows_per_band])
            parts.append(_rows(b, bucket, gpos[has], khash[has], row[has], src, None, lab, sig_has))
    return pa.concat_tables(parts)


def _rows(
    band: int,
    bucket: np.ndarray,
    gpos: np.ndarray,
    khash: np.ndarray,
    row: np.ndarray,
    src: int,
    key: pa.Array | None,
    label: pa.Array,
    sig: pa.Array | None = None,
) -> pa.Table:
    n = len(gpos)
    return pa.Table.from_arrays(
        [
            pa.array(np.full(n, band, dtype=np.int16)),
            pa.array(bucket.astype(np.uint64)),
            pa.array(gpos),
            pa.array(khash),
            pa.array(row),
            pa.array(np.full(n, src, dtype=np.int32)),
            key if key is not None else pa.nulls(n, pa.large_string()),
            label,
            sig if sig is not None else pa.nulls(n, pa.binary()),
        ],
        schema=SHUFFLE_SCHEMA,
    )


def bucket_edges(table: pa.Table, *, threshold: float, num_perm: int) -> pa.Table:
    """The edges of one partition of shuffle rows (every row of a (band, bucket) in this partition): per exact
    group of two rows or more, an ``EXACT`` edge from its first row to each row; per band, the verified
    ``NEAR`` pairs among the groups' first rows of each bucket (each paired with the previous and with the
    bucket's first, in input order, as one process pairs them)."""
    if table.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    band = table["band"].to_numpy()
    gpos = table["gpos"].to_numpy()
    row = table["row"].to_numpy()
    src = table["src"].to_numpy()
    label = table["label"].combine_chunks()
    lefts: list[np.ndarray] = []
    rights: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    exact = np.flatnonzero(band == EXACT_BAND)
    if len(exact):
        codes = pc.dictionary_encode(table["key"].take(pa.array(exact)).combine_chunks()).indices.to_numpy()
        order = np.lexsort((gpos[exact], codes))  # by key, then input order: a group's first row leads it
        c = codes[order]
        start = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        size = np.diff(np.r_[start, len(c)])
        lead = np.repeat(start, size)
        many = np.repeat(size > 1, size)
        lefts.append(exact[order[lead[many]]])
        rights.append(exact[order[many]])
        kinds.append(np.full(int(many.sum()), EXACT, dtype=np.int8))
    bucket = table["bucket"].to_numpy()
    khash = table["khash"].to_numpy()
    for b in np.unique(band[band != EXACT_BAND]):
        idx = np.flatnonzero(band == b)
        # a group's first row only: the smallest position per (bucket, key), as one process keeps its reps
        idx = idx[np.lexsort((gpos[idx], khash[idx], bucket[idx]))]
        first = np.r_[True, (bucket[idx][1:] != bucket[idx][:-1]) | (khash[idx][1:] != khash[idx][:-1])]
        idx = idx[first]
        idx = idx[np.argsort(gpos[idx], kind="stable")]
        left, right = bucket_pairs(bucket[idx])
        if not len(left):
            continue
        sig = _matrix(table["sig"].take(pa.array(idx)), num_perm)
        ok = verify_pairs(sig, left, right, threshold)
        lefts.append(idx[left[ok]])
        rights.append(idx[right[ok]])
        kinds.append(np.full(int(ok.sum()), NEAR, dtype=np.int8))
    if not lefts:
        return EDGE_SCHEMA.empty_table()
    a, b_, kind = np.concatenate(lefts), np.concatenate(rights), np.concatenate(kinds)
    return pa.Table.from_arrays(
        [
            pa.array(kind),
            pa.array(gpos[a]),
            pa.array(gpos[b_]),
            pa.array(row[a]),
            pa.array(row[b_]),
            pa.array(src[a]),
            pa.array(src[b_]),
            label.take(pa.array(a)),
            label.take(pa.array(b_)),
        ],
        schema=EDGE_SCHEMA,
    )


@dataclass
class Groups:
    """The duplicate groups of every row in one (the others are groups of their own): ``ids`` their positions
    (sorted), and per id its exact group (the group's first position), whether that group has several labels,
    the same for near groups (None without near-duplicates), and its input file and record number."""

    ids: np.ndarray
    exact: np.ndarray
    exact_conflict: np.ndarray
    near: np.ndarray | None
    near_conflict: np.ndarray | None
    src: np.ndarray
    row: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    def drop_kinds(self, dedup: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows ``dedup`` (``exact`` or ``near``) drops, as positions into ``ids``; the reject kind of each
        (``exact_duplicate`` when its exact group is what makes it one) and the position into ``ids`` of the row
        its group keeps."""
        groups = self.near if dedup == "near" and self.near is not None else self.exact
        kind = "near_duplicate" if dedup == "near" else "exact_duplicate"
        dup = np.flatnonzero(groups != self.ids)
        kinds = np.where(self.exact[dup] != self.ids[dup], "exact_duplicate", kind)
        return dup, kinds, np.searchsorted(self.ids, groups[dup])


def resolve(edges: pa.Table, *, near: bool) -> Groups:
    """The groups from the edges of all partitions: exact groups as the ``EXACT`` edges say; near groups as the
    connected components of all edges, named by their first position; label conflicts within each."""
    kind = edges["kind"].to_numpy()
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    ids = np.unique(np.concatenate([a, b]))
    m = len(ids)
    ia, ib = np.searchsorted(ids, a), np.searchsorted(ids, b)
    labels = np.full(m, None, dtype=object)
    src = np.zeros(m, dtype=np.int32)
    row = np.zeros(m, dtype=np.int64)
    for i, side in ((ia, "a"), (ib, "b")):
        labels[i] = edges[f"{side}_label"].to_numpy(zero_copy_only=False)
        src[i] = edges[f"{side}_src"].to_numpy()
        row[i] = edges[f"{side}_row"].to_numpy()
    is_exact = kind == EXACT
    exact = ids.copy()
    exact[ib[is_exact]] = a[is_exact]
    label_series = pd.Series(labels, dtype=object)
    exact_conflict = conflicting_label_groups(exact, label_series)
    groups = Groups(ids, exact, exact_conflict, None, None, src, row)
    groups.counts = {
        "exact_duplicate_rows": int((exact != ids).sum()),
        "conflict_rows": int(exact_conflict.sum()),
    }
    if near:
        local = groups_from_pairs(m, ia, ib)  # exact and near edges alike: components named by their first row
        groups.near = ids[local]
        groups.near_conflict = conflicting_label_groups(groups.near, label_series)
        groups.counts["near_duplicate_rows"] = int((groups.near != ids).sum())
        groups.counts["near_conflict_rows"] = int(groups.near_conflict.sum())
    return groups
