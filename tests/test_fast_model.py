"""FastModel: frozen-encoder embeddings cached on disk, trained heads, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skutag.models.neural.fast import FastModel
from skutag.models.neural.fast_cache import cache_key, cached_embeddings
from skutag.models.paths import holdout_split
from skutag.models.registry import load_model
from test_transformer_helpers import synthetic_catalogue, tiny_encoder


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_encoder(tmp_path_factory.mktemp("enc"))


def test_cache_key_depends_on_texts_and_length() -> None:
    a = cache_key("enc", 32, ["x", "y"])
    assert a == cache_key("enc", 32, ["x", "y"])
    assert a != cache_key("enc", 32, ["xy"])
    assert a != cache_key("enc", 16, ["x", "y"])
    assert a != cache_key("other", 32, ["x", "y"])


def test_cached_embeddings_computed_once(tmp_path: Path) -> None:
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(6, dtype=np.float32).reshape(2, 3)

    first, hit1 = cached_embeddings(tmp_path, "k", compute)
    second, hit2 = cached_embeddings(tmp_path, "k", compute)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    np.testing.assert_array_equal(first, second)
    (tmp_path / "k.npy").write_bytes(b"garbage")
    third, hit3 = cached_embeddings(tmp_path, "k", compute)
    assert not hit3 and len(calls) == 2
    np.testing.assert_array_equal(third, first)


def test_fast_model_fits_caches_and_round_trips(
    encoder_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import skutag.models.neural.fast as fast

    texts, labels = synthetic_catalogue(200)
    cache = tmp_path / "cache"
    monkeypatch.setattr(fast, "MIN_CACHED_ROWS", 100)
    model = FastModel(encoder=encoder_dir, cache_dir=str(cache), epochs=60, lr=1e-2, num_threads=1).fit(texts, labels)
    assert len(list(cache.glob("*.npy"))) == 1
    model.predict(texts.head(20))  # a served request's few rows are never written to the cache
    assert len(list(cache.glob("*.npy"))) == 1
    train_acc = (model.predict(texts)["level_1"].to_numpy() == labels["level_1"].to_numpy()).mean()
    assert train_acc > 0.6  # random tiny encoder: weak, but the heads must learn something
    for row in model.predict(texts.head(20)).itertuples(index=False, name=None):
        assert model.taxonomy_.is_valid_path(row)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, FastModel)
    valid, _ = synthetic_catalogue(30, seed=5)
    np.testing.assert_allclose(loaded.predict_path_proba(valid), model.predict_path_proba(valid), atol=1e-5)
    assert len(model.history_) >= 1 and "valid_score" in model.history_[0]


def test_fast_model_nearest_neighbour_index(encoder_dir: str, tmp_path: Path) -> None:
    from skutag.models.neural.fast import KNN_FILE

    texts, labels = synthetic_catalogue(200)
    model = FastModel(encoder=encoder_dir, cache_dir=None, epochs=20, lr=1e-2, num_threads=1).fit(texts, labels)
    index = model.knn_index_
    assert len(index) == 200 and index.tuning is not None  # held-out rows tuned the weight, then joined the index
    assert 0.0 <= index.weight <= 1.0
    model.knn_index_.weight = 1.0  # votes only: a training title's nearest row is itself
    assert (model.predict(texts)["level_2"].to_numpy() == labels["level_2"].to_numpy()).mean() > 0.95
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / KNN_FILE).is_file()
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, FastModel) and loaded.knn_index_.weight == 1.0
    np.testing.assert_allclose(loaded.predict_path_proba(texts.head(20)), model.predict_path_proba(texts.head(20)))
    held = model.heldout_  # scored with the votes of the index before the held-out rows joined it
    assert held is not None and len(held.confidence) == 20 and held.folds == 1 and held.n_rows == 200
    assert held.describe().startswith("held out 20 of 200 training rows (they also chose")
    off = FastModel(encoder=encoder_dir, cache_dir=None, epochs=5, knn=0, num_threads=1).fit(texts, labels)
    assert len(off.knn_index_) == 0
    # without an index the held-out scores are the fitted model's own on those rows
    hold = holdout_split(len(texts), off.valid_fraction, off.seed)[1]
    assert off.heldout_ is not None
    np.testing.assert_allclose(off.heldout_.confidence, off.predict_topk(texts.iloc[hold], k=1).scores[:, 0], atol=1e-5)
    off.save(tmp_path / "off")
    assert not (tmp_path / "off" / KNN_FILE).exists()
