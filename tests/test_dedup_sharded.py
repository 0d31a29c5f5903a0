"""Duplicate groups found shard by shard with one shuffle (what `clean --ray` runs on the cluster) are the groups
one process finds over all rows at once: on real MWPD descriptions with exact and near copies injected, cut into
shards at random places and shuffled into partitions by bucket, without Ray."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest_store import shared_data
from skutag.dedup import conflicting_label_groups, exact_duplicate_groups, near_duplicate_groups
from skutag.dedup.lsh import band_params
from skutag.dedup.sharded import bucket_edges, key_table, resolve, shuffle_rows


@pytest.fixture(scope="module")
def offers() -> tuple[list[str | None], list[str]]:
    path = shared_data() / "mwpd2020" / "train.json"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in itertools.islice(fh, 4000)]
    texts: list[str | None] = [r["Description"] for r in rows]
    labels = [r["lvl1"] for r in rows]
    rng = np.random.default_rng(0)
    for i in rng.integers(0, len(rows), 200):  # near copies (a word more), some with another label
        texts.append(f"{texts[i] or ''} genuine")
        labels.append(labels[int(rng.integers(0, len(rows)))])
    for i in rng.integers(0, len(texts), 200):  # exact copies, of near copies too
        texts.append(texts[i])
        labels.append(labels[i])
    texts[7] = None
    return texts, labels


@pytest.mark.parametrize("shards,partitions", [(1, 1), (7, 5)])
def test_sharded_groups_are_the_one_process_groups(
    offers: tuple[list[str | None], list[str]], shards: int, partitions: int
) -> None:
    texts, labels = offers
    n = len(texts)
    exact = exact_duplicate_groups(texts)
    near = near_duplicate_groups(texts, threshold=0.8)
    assert (exact != np.arange(n)).sum() > 150 and (near != exact).sum() > 100  # the case has both kinds

    bands, r = band_params(0.8, 64)
    rng = np.random.default_rng(shards)
    cuts = np.r_[0, np.sort(rng.choice(np.arange(1, n), shards - 1, replace=False)), n]
    rows = []
    for s, e in itertools.pairwise(cuts):
        table = key_table(
            pa.array(texts[s:e], pa.large_string()), pa.array(labels[s:e], pa.large_string()), np.arange(s, e),
            near=True, num_perm=64, shingle="word3",
        )  # fmt: skip
        rows.append(shuffle_rows(table, int(s), 0, near=True, bands=bands, rows_per_band=r, num_perm=64))
    shuffled = pa.concat_tables(rows)
    part = (shuffled["bucket"].to_numpy() ^ shuffled["band"].to_numpy().astype(np.uint64)) % np.uint64(partitions)
    edges = pa.concat_tables(
        [bucket_edges(shuffled.filter(pa.array(part == p)), threshold=0.8, num_perm=64) for p in range(partitions)]
    )
    groups = resolve(edges, near=True)

    def spread(values: np.ndarray, default: np.ndarray) -> np.ndarray:
        out = default.copy()
        out[groups.ids] = values
        return out

    pos, no = np.arange(n), np.zeros(n, dtype=bool)
    assert groups.near is not None and groups.near_conflict is not None
    np.testing.assert_array_equal(spread(groups.exact, pos), exact)
    np.testing.assert_array_equal(spread(groups.near, pos), near)
    lab = pd.Series(labels, dtype=object)
    np.testing.assert_array_equal(spread(groups.exact_conflict, no), conflicting_label_groups(exact, lab))
    np.testing.assert_array_equal(spread(groups.near_conflict, no), conflicting_label_groups(near, lab))
    assert groups.counts["near_duplicate_rows"] == int((near != pos).sum())
    # the rows near-dedup drops name the row their group keeps
    dup, kinds, keeps = groups.drop_kinds("near")
    assert set(groups.ids[dup]) == set(np.flatnonzero(near != pos))
    np.testing.assert_array_equal(groups.row[keeps], near[groups.ids[dup]])  # row numbers are positions here
    assert set(kinds) == {"exact_duplicate", "near_duplicate"}
