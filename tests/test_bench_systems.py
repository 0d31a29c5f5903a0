"""The peer systems of the benchmarks on a tiny made-up catalogue: fit, predict, save, load, throughput."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from benchmarks import peers_systems, peers_tasks

WORDS = {
    ("Food", "Fruit"): ["apple", "banana", "pear", "mango"],
    ("Food", "Dairy"): ["milk", "cheese", "yoghurt", "butter"],
    ("Tools", "Hand"): ["hammer", "wrench", "screwdriver", "pliers"],
}


def _catalogue(n_per: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    titles, l1, l2, cat = [], [], [], []
    for (a, b), words in WORDS.items():
        for i in range(n_per):
            w = words[i % len(words)]
            titles.append(f"{w} {['fresh', 'big', 'small', 'new'][i % 4]} {w}s pack {i}")
            cat.append(f"shop {b.lower()}" if i % 3 else "")
            l1.append(a)
            l2.append(b)
    x = pd.DataFrame({"Name": titles, "CategoryText": cat})
    return x, pd.DataFrame({"lvl1": l1, "lvl2": l2})


SYSTEMS = [
    ("skutag-linear", {"n_jobs": 1}),
    ("sklearn-svc", {}),
    ("fasttext", {"epoch": 30, "lr": 0.5, "bucket": 1000, "dim": 10}),
]


@pytest.mark.parametrize(("kind", "options"), SYSTEMS, ids=[k for k, _ in SYSTEMS])
def test_fit_predict_save_load(kind: str, options: dict, tmp_path: Path) -> None:
    if kind == "fasttext":
        pytest.importorskip("fasttext")
    x, y = _catalogue()
    system = peers_systems.make_system(kind, options)
    system.fit(x, y, (x, y))
    pred = system.predict(system.inputs(x))
    assert pred.shape == y.shape
    scores = peers_tasks.level_scores(y, pred)
    assert scores["f1_weighted"] > 0.9, scores
    system.save(tmp_path / "m")
    assert peers_systems.dir_size_mb(tmp_path / "m") > 0
    loaded = peers_systems.make_system(kind, options)
    loaded.load(tmp_path / "m")
    again = loaded.predict(loaded.inputs(x))
    assert again.to_numpy().tolist() == pred.to_numpy().tolist()
    assert peers_tasks.throughput(system, x, 1, 5) > 0
    assert peers_tasks.throughput(system, x, 64, 100) > 0


def test_fasttext_text_splits_urls_and_punctuation() -> None:
    assert peers_systems.fasttext_text("Shop: https://x.com/Red-Shoes?id=1") == "shop https x com red shoes id 1"


def test_fasttext_empty_text_still_gets_a_path() -> None:
    pytest.importorskip("fasttext")
    x, y = _catalogue(4)
    ft = peers_systems.FastTextPeer(epoch=30, bucket=1000, dim=5, threads=1)  # one thread: deterministic
    ft.fit(x, y, None)
    pred = ft.predict(["", "apple"])
    assert pred.columns.tolist() == ["lvl1", "lvl2"]
    assert tuple(pred.iloc[0]) in WORDS and tuple(pred.iloc[1]) == ("Food", "Fruit")


def test_joined_texts_skip_empty_columns() -> None:
    x = pd.DataFrame({"Name": ["a b", "c"], "CategoryText": ["shop", None]})
    assert peers_systems.joined_texts(x) == ["a b | shop", "c"]


def test_level_scores_perfect_and_wrong() -> None:
    _, y = _catalogue(2)
    assert peers_tasks.level_scores(y, y)["f1_macro"] == pytest.approx(1.0)
    wrong = y.copy()
    wrong["lvl2"] = "nothing"
    s = peers_tasks.level_scores(y, wrong)
    assert s["f1_w_lvl1"] == pytest.approx(1.0) and s["f1_w_lvl2"] == 0.0
    assert s["f1_weighted"] == pytest.approx(0.5)


def test_unknown_system() -> None:
    with pytest.raises(ValueError, match="unknown system"):
        peers_systems.make_system("nope")


def test_fasttext_predict_str_replica_matches_its_list_call() -> None:
    """bench_linear's one-title timing calls fastText's predict(str) steps (the wheel's own fails on numpy 2): the
    same labels and (to rounding) probabilities as its list call, one title at a time."""
    pytest.importorskip("fasttext")
    from benchmarks.bench_linear import fasttext_predict_str

    x, y = _catalogue(4)
    ft = peers_systems.FastTextPeer(epoch=30, bucket=1000, dim=5, threads=1)
    ft.fit(x, y, None)
    texts = ft.inputs(x)
    labels, probs = ft.model.predict(texts, k=2)
    for text, want_labels, want_probs in zip(texts, labels, probs, strict=True):
        got_labels, got_probs = fasttext_predict_str(ft.model, text, k=2)
        assert list(got_labels) == list(want_labels)
        assert got_probs.tolist() == pytest.approx(want_probs.tolist(), abs=1e-3)  # the bindings round differently
    with pytest.raises(ValueError, match="one line"):
        fasttext_predict_str(ft.model, "two\nlines")
