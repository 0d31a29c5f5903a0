"""Exact and near-duplicate groups, MinHash signatures, label conflicts."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from skutag.dedup import conflicting_label_groups, exact_duplicate_groups, near_duplicate_groups
from skutag.dedup.lsh import band_params
from skutag.dedup.minhash import signatures
from skutag.dedup.shingles import shingle_hashes
from skutag.dedup.unionfind import groups_from_pairs
from skutag.errors import ConfigError

BASE = [
    "Apple iPhone 12 Pro Max 128GB Pacific Blue Unlocked Smartphone with Face ID",
    "Samsung Galaxy S21 Ultra 5G 256GB Phantom Black Android Smartphone",
    "Sterling Silver Angel Charm for Bracelets and Necklaces Gift Boxed",
    "HP Pavilion 23xi 58.4 cm IPS LED Backlit Monitor Full HD",
    "East Carolina Pirates Ladies Long Sleeve Classic Fit T-Shirt Purple",
]


def test_exact_groups_ignore_case_and_whitespace_and_never_group_missing() -> None:
    texts = ["Red Shoe", "red  shoe ", None, "", "Blue Shoe", "RED SHOE", None, "  "]
    g = exact_duplicate_groups(texts)
    assert g.dtype == np.int64
    assert g.tolist() == [0, 1 - 1, 2, 3, 4, 0, 6, 7]


def test_near_duplicates_found_and_distinct_texts_kept_apart() -> None:
    texts = [
        BASE[0],
        BASE[0].lower() + "!",  # exact after word shingling
        BASE[0].replace("Face ID", "Face ID and 5G"),  # small edit at the end
        BASE[1],
        BASE[2],
        BASE[1] + " New",
        None,
        BASE[3],
        BASE[4],
        "",
    ]
    g = near_duplicate_groups(texts, threshold=0.7)
    assert g[0] == g[1] == g[2] == 0
    assert g[5] == 3 and g[3] == 3
    assert g[4] == 4 and g[7] == 7 and g[8] == 8
    assert g[6] == 6 and g[9] == 9


def test_near_duplicates_on_many_random_texts() -> None:
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(5000)]
    originals = [" ".join(rng.choice(vocab, size=30)) for _ in range(300)]
    texts = list(originals)
    for t in originals[:100]:
        words = t.split()
        words[int(rng.integers(len(words)))] = "changed"  # one word of 30: Jaccard ~ 0.85
        texts.append(" ".join(words))
    g = near_duplicate_groups(texts, threshold=0.7, num_perm=128)
    assert (g[300:] == np.arange(100)).mean() >= 0.95  # the copies join their original
    assert len(np.unique(g[:300])) == 300  # the random originals stay apart


def test_group_ids_are_first_positions() -> None:
    texts = [BASE[i % 3] for i in range(12)]
    for g in (exact_duplicate_groups(texts), near_duplicate_groups(texts)):
        assert g.tolist() == [i % 3 for i in range(12)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["", "a b c", "A  B C", "x y z w", "x y z q"])), max_size=20))
def test_group_invariants(texts: list[str | None]) -> None:
    for g in (exact_duplicate_groups(texts), near_duplicate_groups(texts, threshold=0.5)):
        n = len(texts)
        assert g.shape == (n,)
        assert all(0 <= g[i] <= i for i in range(n))
        assert all(g[g[i]] == g[i] for i in range(n))  # the id is a member of its own group
        for i, t in enumerate(texts):
            if t is None or not t.strip():
                assert g[i] == i and (g == i).sum() == 1


def test_signatures_match_datasketch() -> None:
    hashes, offsets = shingle_hashes([*BASE, "one", None], "word3")
    assert offsets[-1] == len(hashes) and offsets[-2] == offsets[-1]  # the missing text has no shingle
    sig = signatures(hashes, offsets, num_perm=32, seed=7)
    for i in range(len(BASE) + 1):
        m = MinHash(num_perm=32, seed=7, hashfunc=lambda x: x)
        m.update_batch(hashes[offsets[i] : offsets[i + 1]].tolist())
        assert np.array_equal(m.hashvalues, sig[i])


def test_char_shingles_and_bad_options() -> None:
    g = near_duplicate_groups(["colour television", "color television", "radio"], shingle="char3", threshold=0.6)
    assert g.tolist() == [0, 0, 2]
    with pytest.raises(ConfigError):
        near_duplicate_groups(["a"], shingle="sentence2")
    with pytest.raises(ConfigError):
        near_duplicate_groups(["a"], threshold=0)


def test_band_params_reach_recall() -> None:
    for t in (0.5, 0.8, 0.9):
        b, r = band_params(t, 64)
        assert b * r <= 64
        assert 1 - (1 - t**r) ** b >= 0.95


def test_conflicting_labels() -> None:
    groups = np.array([0, 0, 2, 2, 4, 4, 6])
    labels = ["a", "b", "c", "c", "d", None, "e"]
    assert conflicting_label_groups(groups, labels).tolist() == [True, True, False, False, False, False, False]
    assert conflicting_label_groups(np.zeros(0, dtype=np.int64), []).tolist() == []


def test_groups_from_pairs() -> None:
    g = groups_from_pairs(6, np.array([4, 1, 5]), np.array([5, 3, 2]))
    assert g.tolist() == [0, 1, 2, 1, 2, 2]
    assert groups_from_pairs(3, np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == [0, 1, 2]
