"""Nearest-neighbour path votes of the fine-tuned transformer: the vote kernel, the index cap, the weight tuning,
and the model's index (built at fit, saved as safetensors, identical after load, the same through ONNX)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skutag.errors import ConfigError, ModelLoadError
from skutag.models.neighbours.knn import cap_index, knn_path_proba, normalise_rows, tune_weight
from skutag.models.neural.transformer import KNN_FILE, TransformerModel
from skutag.models.paths import decode_paths
from skutag.models.registry import load_model
from test_transformer_helpers import FAST_TRAINING, synthetic_catalogue, tiny_encoder


# ---- the kernel ----------------------------------------------------------------------------------
def test_votes_follow_the_nearest_rows() -> None:
    rng = np.random.default_rng(0)
    index = normalise_rows(rng.normal(size=(50, 8)))
    paths = np.arange(50) % 5
    queries = index[[3, 17, 40]] + 1e-3  # each query sits on one index row
    p = knn_path_proba(normalise_rows(queries), index, paths, 5, k=3, temperature=0.05)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert list(p.argmax(axis=1)) == [paths[3], paths[17], paths[40]]
    # k = 1 with a cold temperature: (almost) all mass on the single nearest row's path
    p1 = knn_path_proba(normalise_rows(queries), index, paths, 5, k=1, temperature=0.01)
    assert (p1.max(axis=1) > 0.99).all()


def test_votes_weigh_similarity_and_cap_k() -> None:
    index = normalise_rows(np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]))
    paths = np.array([0, 1, 1])
    q = normalise_rows(np.array([[1.0, 0.1]]))
    # two path-1 rows outvote one closer path-0 row at a warm temperature, not at a cold one
    warm = knn_path_proba(q, index, paths, 2, k=10, temperature=10.0)  # k capped at the 3 index rows
    cold = knn_path_proba(q, index, paths, 2, k=10, temperature=0.01)
    assert warm.argmax() == 1 and cold.argmax() == 0
    # queries beyond one chunk give the same rows as one at a time
    many = np.repeat(q, 1100, axis=0)
    one = knn_path_proba(q, index, paths, 2, 2, 0.1)[0]
    np.testing.assert_allclose(knn_path_proba(many, index, paths, 2, 2, 0.1)[-1], one)
    empty = knn_path_proba(q, np.zeros((0, 2), np.float32), np.zeros(0, np.int32), 2, 3, 0.1)
    np.testing.assert_allclose(empty, [[0.5, 0.5]])


def test_cap_keeps_rare_paths() -> None:
    paths = np.array([0] * 1000 + [1] * 3 + [2] * 1 + [3] * 50)
    kept = cap_index(paths, 60, seed=1)
    assert len(kept) == 60 and len(np.unique(kept)) == 60 and np.all(np.diff(kept) > 0)
    counts = np.bincount(paths[kept], minlength=4)
    assert counts[1] == 3 and counts[2] == 1  # rare paths kept whole
    assert abs(int(counts[0]) - int(counts[3])) <= 1  # the two big paths share the rest
    np.testing.assert_array_equal(cap_index(paths, 10_000), np.arange(len(paths)))


def test_tune_weight_picks_the_better_mix() -> None:
    truth = np.array([0, 1, 1, 0])
    head = np.array([[0.9, 0.1], [0.6, 0.4], [0.6, 0.4], [0.9, 0.1]])  # half right
    votes = np.array([[0.6, 0.4], [0.0, 1.0], [0.0, 1.0], [0.6, 0.4]])  # all right

    def acc(p: np.ndarray) -> float:
        return float((p.argmax(axis=1) == truth).mean())

    w, s = tune_weight(head, votes, acc)
    assert s == 1.0 and 0.0 < w <= 1.0
    assert tune_weight(votes, votes, acc)[0] == 0.0  # ties keep the heads alone


# ---- the model ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> TransformerModel:
    encoder = tiny_encoder(tmp_path_factory.mktemp("enc"))
    texts, labels = synthetic_catalogue(240)
    return TransformerModel(encoder=encoder, num_threads=1, runtime="torch", **FAST_TRAINING).fit(texts, labels)


def test_index_built_from_all_training_rows(fitted: TransformerModel) -> None:
    # 240 rows, 10% held out for early stopping and tuning, then added to the index too
    index = fitted.knn_index_
    assert index.embeddings.shape == (240, 32) and index.embeddings.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(index.embeddings.astype(np.float32), axis=1), 1.0, atol=1e-2)
    _, labels = synthetic_catalogue(240)
    assert sorted(np.bincount(index.paths)) == sorted(labels.value_counts().to_numpy())
    assert 0.0 <= index.weight <= 1.0 and index.tuning is not None
    assert set(index.tuning) == {"weight", "score", "heads_only", "votes_only"}
    # the held-out rows were scored (heads and votes) before they joined: what training without --valid calibrates on
    held = fitted.heldout_
    assert held is not None and len(held.confidence) == 24 and held.n_rows == 240 and held.folds == 1


def _with_weight(model: TransformerModel, weight: float) -> TransformerModel:
    m = copy.copy(model)
    m.knn_index_ = copy.copy(model.knn_index_)
    m.knn_index_.weight = weight
    return m


def test_probabilities_mix_heads_and_votes(fitted: TransformerModel) -> None:
    texts, _ = synthetic_catalogue(40, seed=5)
    heads = decode_paths(fitted.level_logits(texts), fitted.paths_, fitted.path_temperature_)
    np.testing.assert_allclose(_with_weight(fitted, 0.0).predict_path_proba(texts), heads, atol=1e-9)
    votes = _with_weight(fitted, 1.0).predict_path_proba(texts)
    half = _with_weight(fitted, 0.5).predict_path_proba(texts)
    np.testing.assert_allclose(half, 0.5 * heads + 0.5 * votes, atol=1e-9)
    np.testing.assert_allclose(votes.sum(axis=1), 1.0)
    # a training title votes (mostly) for its own path
    train_texts, train_labels = synthetic_catalogue(240)
    top = _with_weight(fitted, 1.0).predict(train_texts.head(40))
    assert (top["level_2"].to_numpy() == train_labels["level_2"].head(40).to_numpy()).mean() > 0.9


def test_index_saved_and_loaded(fitted: TransformerModel, tmp_path: Path) -> None:
    model = _with_weight(fitted, 0.6)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / KNN_FILE).is_file()
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, TransformerModel) and loaded.knn_index_.weight == 0.6
    np.testing.assert_array_equal(loaded.knn_index_.paths, model.knn_index_.paths)
    texts, _ = synthetic_catalogue(30, seed=6)
    np.testing.assert_allclose(loaded.predict_path_proba(texts), model.predict_path_proba(texts), atol=1e-6)
    (tmp_path / "m" / KNN_FILE).unlink()
    with pytest.raises(ModelLoadError):
        load_model(tmp_path / "m")


def test_onnx_graph_carries_the_pooled_embedding(fitted: TransformerModel) -> None:
    pytest.importorskip("onnxruntime")
    texts, _ = synthetic_catalogue(50, seed=8)
    texts.loc[2, "title"] = "a far longer title than every other title here " * 2
    model = _with_weight(fitted, 0.7)
    torch_p = model.predict_path_proba(texts)
    onnx_model = copy.copy(model)
    onnx_model.runtime = "onnx"
    onnx_model.__dict__.pop("onnx_state_", None)
    _, pooled = onnx_model._forward(texts)
    assert pooled is not None and pooled.shape == (50, 32)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(onnx_model.predict_path_proba(texts), torch_p, atol=1e-4)


def test_knn_off_and_bad_params(tmp_path: Path) -> None:
    encoder = tiny_encoder(tmp_path / "enc")
    texts, labels = synthetic_catalogue(120)
    model = TransformerModel(encoder=encoder, num_threads=1, runtime="torch", knn=0, **FAST_TRAINING)
    model.fit(texts, labels)
    assert model.knn_index_.weight == 0.0 and len(model.knn_index_) == 0
    model.save(tmp_path / "m")
    assert not (tmp_path / "m" / KNN_FILE).exists()
    probs = load_model(tmp_path / "m").predict_path_proba(texts.head(10))
    heads = decode_paths(model.level_logits(texts.head(10)), model.paths_, model.path_temperature_)
    np.testing.assert_allclose(probs, heads, atol=1e-6)
    # a fixed weight is kept as given; an explicit validation set is never added to the index
    fixed = TransformerModel(encoder=encoder, num_threads=1, runtime="torch", knn_weight=0.3, **FAST_TRAINING)
    v_texts, v_labels = synthetic_catalogue(30, seed=2)
    fixed.fit(texts, labels, valid=(v_texts, v_labels))
    assert fixed.knn_index_.weight == 0.3 and len(fixed.knn_index_) == 120
    # no held-out training rows (12 would be too few; an explicit validation set is not training rows): uncalibrated
    assert model.heldout_ is None and fixed.heldout_ is None
    for bad in ({"knn": -1}, {"knn_temperature": 0.0}, {"knn_weight": 1.5}, {"knn_max_rows": 0}):
        with pytest.raises(ConfigError):
            TransformerModel(**bad).fit(texts, labels)  # type: ignore[arg-type]


def test_add_neighbours_grows_the_index(fitted: TransformerModel) -> None:
    model = _with_weight(fitted, 1.0)
    extra, labels = synthetic_catalogue(20, seed=11)
    labels.loc[0, "level_2"] = "Vegetables"  # a path the model never saw: skipped
    before = len(model.knn_index_)
    assert model.add_neighbours(extra, labels) == 19
    assert len(model.knn_index_) == before + 19 and len(fitted.knn_index_) == before  # the copy's index only
    # an added row is its own nearest neighbour: with one neighbour its path wins on votes alone
    odd = pd.DataFrame({"title": ["zebra quartz lantern 987654"]})
    for path in (("Tools", "Power"), ("Food", "Fruit")):
        fresh = _with_weight(fitted, 1.0)
        fresh.knn_index_.k = 1
        assert fresh.add_neighbours(odd, pd.DataFrame([path], columns=["level_1", "level_2"])) == 1
        assert fresh.predict_topk(odd, k=1).paths[0][0] == path
    off = _with_weight(fitted, 0.0)
    assert off.add_neighbours(extra, labels) == 0
