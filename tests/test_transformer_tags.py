"""Multi-label tagger: sigmoid head, per-tag thresholds tuned on held-out rows, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skutag.errors import ConfigError, NotFittedError
from skutag.models.neural.tags import TransformerTagger, tune_thresholds
from test_transformer_helpers import tiny_encoder


def test_tune_thresholds_maximise_each_tags_f1() -> None:
    probs = np.array([[0.9, 0.3], [0.7, 0.35], [0.2, 0.1], [0.6, 0.32]])
    truth = np.array([[1, 1], [1, 1], [0, 0], [0, 1]])
    th = tune_thresholds(probs, truth)
    assert 0.6 < th[0] <= 0.7
    assert th[1] <= 0.3


def _data() -> tuple[list[str], list[list[str]]]:
    rng = np.random.default_rng(0)
    words = {"organic": "eco", "steel": "metal", "kids": "children"}
    texts, tags = [], []
    for _ in range(160):
        chosen = [w for w in words if rng.random() < 0.5]
        texts.append(" ".join([*chosen, "product", str(rng.integers(50))]))
        tags.append([words[w] for w in chosen])
    return texts, tags


def test_tagger_learns_tag_sets_and_round_trips(tmp_path: Path) -> None:
    enc = tiny_encoder(tmp_path / "enc")
    texts, tags = _data()
    model = TransformerTagger(
        encoder=enc,
        epochs=8,
        batch_size=16,
        head_lr=1e-2,
        encoder_lr=2e-3,
        num_threads=1,
        progress_bar=False,
        freeze_embeddings=False,  # the tiny encoder is random: its token embeddings must train
    )
    model.fit(texts, tags)
    assert model.tags_ == ["children", "eco", "metal"]
    pred = model.predict(texts)
    exact = np.mean([set(p) == set(t) for p, t in zip(pred, tags, strict=True)])
    assert exact > 0.7
    model.save(tmp_path / "t")
    loaded = TransformerTagger.load(tmp_path / "t")
    assert loaded.predict(texts[:20]) == pred[:20]
    np.testing.assert_allclose(loaded.thresholds_, model.thresholds_)


def test_tagger_errors() -> None:
    with pytest.raises(NotFittedError):
        TransformerTagger().predict(["x"])
    with pytest.raises(ConfigError):
        TransformerTagger().fit(["a", "b"], [[], []])
