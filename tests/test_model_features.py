"""Hashed n-gram TF-IDF features: counts match a naive implementation, fresh-state identity, any script."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from skutag.models.linear.features import (
    FieldVectorizer,
    MultiFieldVectorizer,
    NgramConfig,
    ngram_parts,
    normalise,
    normalised_joined,
    word_text,
)
from skutag.models.linear.sparse_kernels import add_sparse_product


def naive_char(text: str, lo: int, hi: int) -> int:
    """char_wb-style n-grams of each space-padded word (windows never hold an inner space)."""
    padded = f" {text} "
    total = 0
    for n in range(lo, hi + 1):
        for i in range(len(padded) - n + 1):
            if " " not in padded[i + 1 : i + n - 1] or n <= 2:
                total += 1
    return total


def naive_words(text: str, lo: int, hi: int) -> int:
    toks = text.split()
    return sum(max(0, len(toks) - n + 1) for n in range(lo, hi + 1))


@given(st.lists(st.text(alphabet="ab c苹果-", max_size=12), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None)
def test_ngram_counts_match_naive(texts: list[str]) -> None:
    norm = [normalise(t) for t in texts]
    rows_c = np.concatenate([r for r, _ in ngram_parts(norm, None, (2, 4))] or [np.zeros(0, int)])
    counts = Counter(rows_c.tolist())
    for i, t in enumerate(norm):
        assert counts.get(i, 0) == naive_char(t, 2, 4)
    words = [word_text(t) for t in norm]
    rows_w = np.concatenate([r for r, _ in ngram_parts(words, (1, 2), None)] or [np.zeros(0, int)])
    wcounts = Counter(rows_w.tolist())
    for i, t in enumerate(words):
        assert wcounts.get(i, 0) == naive_words(t, 1, 2)


def test_same_ngram_same_bucket_across_rows_and_orders() -> None:
    (r1, b1), *_ = ngram_parts(["ab", "xx ab"], (1, 1), None)
    assert r1.tolist() == [0, 1, 1] and b1[0] == b1[2] and b1[0] != b1[1]
    (_, a), (_, b) = ngram_parts(["red car"], (1, 2), None)
    (_, c), (_, d) = ngram_parts(["car red"], (1, 2), None)
    assert sorted(a.tolist()) == sorted(c.tolist()) and b[0] != d[0]  # bigrams are ordered


def test_vectorizer_rows_unit_norm_and_state_round_trip() -> None:
    texts = ["Red apple 1kg", "green APPLE", "苹果 新款", "", None, "chef knife"]
    multi = MultiFieldVectorizer({"t": NgramConfig(), "c": NgramConfig(word=(1, 1), char=None, weight=0.5)})
    cols = {"t": texts, "c": ["fruit", "fruit", "", "", "", "kitchen"]}
    x = multi.fit_transform(cols)
    sq = np.asarray(x.multiply(x).sum(axis=1)).ravel()
    # title: word block + char block each of unit length; category block weighs 0.5
    np.testing.assert_allclose(sq[[0, 1]], 2 + 0.25, rtol=1e-5)
    # an empty/missing text has exactly one feature, the padded-empty char bigram ("is empty")
    assert (x[3] != x[4]).nnz == 0 and x[4, : multi.vectorizers["t"].n_features].nnz == 1
    parts = multi.transform_parts(cols)
    np.testing.assert_allclose(sum(p.toarray() for p in parts), x.toarray(), rtol=1e-6)
    again = MultiFieldVectorizer.from_state(multi.config_list(), multi.state_arrays())
    np.testing.assert_array_equal(again.transform(cols).toarray(), x.toarray())
    # fit_transform (n-grams computed once) is fit then transform
    two_steps = MultiFieldVectorizer(multi.fields).fit(cols).transform(cols)
    np.testing.assert_array_equal(two_steps.toarray(), x.toarray())
    # document frequency counts a row once however often it repeats an n-gram
    vec = FieldVectorizer(NgramConfig(word=(1, 1), char=None, min_df=2)).fit(["a a a", "b", "b c"])
    assert vec.n_features == 1 and vec.transform(["b"]).nnz == 1
    unseen = multi.transform({"t": ["zzzz qqqq"], "c": ["wwww"]})
    assert unseen.nnz <= 2  # only the padding-space bigram-like n-grams can be known


def test_chunked_fit_transform_matches_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Big inputs are vectorised in chunks of rows: same vocabulary, idf and matrix as in one pass."""
    import skutag.models.linear.features as features

    texts = [f"item {i % 7} red {'apple' if i % 3 else 'knife'} {i}" for i in range(50)] + ["", None]
    cols = {"t": texts, "c": [f"cat {i % 4}" for i in range(len(texts))]}
    fields = {"t": NgramConfig(min_df=2), "c": NgramConfig(word=(1, 1), char=None, max_features=3)}
    whole = MultiFieldVectorizer(fields)
    x = whole.fit_transform(cols)
    monkeypatch.setattr(features, "CHUNK_ROWS", 8)
    chunked = MultiFieldVectorizer(fields)
    y = chunked.fit_transform(cols)
    for name in fields:
        np.testing.assert_array_equal(chunked.vectorizers[name].vocab_, whole.vectorizers[name].vocab_)
        np.testing.assert_array_equal(chunked.vectorizers[name].idf_, whole.vectorizers[name].idf_)
    assert y.shape == x.shape and abs(y - x).max() < 1e-6


def test_min_df_and_max_chars() -> None:
    vec = FieldVectorizer(NgramConfig(word=(1, 1), char=None, min_df=2)).fit(["a b", "a c", "a d"])
    assert vec.n_features == 1
    short = FieldVectorizer(NgramConfig(word=(1, 1), char=None, max_chars=3)).fit(["abc defg"])
    assert short.n_features == 1


def test_max_features_keeps_the_most_frequent_buckets() -> None:
    texts = ["a b", "a c", "a b d", "e"]
    full = FieldVectorizer(NgramConfig(word=(1, 1), char=None)).fit(texts)
    capped = FieldVectorizer(NgramConfig(word=(1, 1), char=None, max_features=2)).fit(texts)
    assert full.n_features == 5 and capped.n_features == 2
    x = capped.transform(texts).toarray()
    # "a" (3 rows) and "b" (2 rows) are kept: row 0 has both, "c", "d", "e" vanish
    assert (x > 0).sum(axis=1).tolist() == [2, 1, 2, 0]
    again = FieldVectorizer(NgramConfig(word=(1, 1), char=None, max_features=2)).fit(texts[::-1])
    assert np.array_equal(np.sort(again.vocab_), np.sort(capped.vocab_))
    assert NgramConfig.from_dict(capped.config.to_dict()) == capped.config


@given(
    st.lists(
        st.one_of(st.none(), st.integers(), st.text(alphabet="aB c\t\n\x01\x00Σς苹果-,.\u3002\u00a0İ", max_size=14)),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([0, 3]),
)
@settings(max_examples=80, deadline=None)
def test_joined_normalisation_matches_per_text(texts: list[object], max_chars: int) -> None:
    """The one-big-string path gives the same normalised texts and the same n-grams as the per-text path."""
    fast = normalised_joined(texts, max_chars)
    norm = [normalise(t)[: max_chars or None] for t in texts]
    if fast is not None:
        assert fast.split("\x00") == norm
    cfg = NgramConfig(word=(1, 2), char=(2, 4), max_chars=max_chars)
    groups = FieldVectorizer(cfg)._groups(texts)
    slow = [ngram_parts([word_text(t) for t in norm], (1, 2), None), ngram_parts(norm, None, (2, 4))]
    for got, want in zip(groups, slow, strict=True):
        assert len(got) == len(want)
        for (r1, b1), (r2, b2) in zip(got, want, strict=True):
            np.testing.assert_array_equal(r1, r2)
            np.testing.assert_array_equal(b1, b2)


@given(st.integers(0, 2**31), st.integers(1, 40), st.integers(0, 300), st.sampled_from([50, 6000]))
@settings(max_examples=40, deadline=None)
def test_sparse_product_matches_scipy(seed: int, n_rows: int, nnz: int, n_feat: int) -> None:
    """Both ways (counting sort by feature; a plain loop when there are few non-zeros per feature)."""
    rng = np.random.default_rng(seed)
    k = 7
    rows = np.sort(rng.integers(0, n_rows, nnz))
    cols = rng.integers(0, n_feat, nnz).astype(np.int32)
    data = rng.standard_normal(nnz).astype(np.float32)
    coef = rng.standard_normal((n_feat, k)).astype(np.float32)
    out = np.ones((n_rows, k), dtype=np.float32)
    add_sparse_product(out, rows, cols, data, coef)
    want = 1.0 + sp.coo_matrix((data, (rows, cols)), shape=(n_rows, n_feat)).toarray() @ coef
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_sparse_product_rejects_bad_input() -> None:
    coef = np.zeros((3, 2), dtype=np.float32)
    out = np.zeros((2, 2), dtype=np.float32)
    with pytest.raises(IndexError):
        add_sparse_product(out, np.array([0]), np.array([3]), np.array([1.0], np.float32), coef)
    with pytest.raises(TypeError):
        add_sparse_product(out, np.array([0]), np.array([0]), np.array([1.0], np.float32), coef.astype(np.float64))
