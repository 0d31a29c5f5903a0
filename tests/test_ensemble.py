"""EnsembleModel: weights on the simplex, blends, never worse than its best member on the tuning rows,
persistence, and fit through the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skutag.errors import ConfigError
from skutag.evaluation.metrics import level_f1
from skutag.models.ensemble import EnsembleModel, blend, simplex_grid
from skutag.models.linear.model import LinearModel
from skutag.models.paths import PathModel
from skutag.models.registry import load_model
from test_transformer_helpers import synthetic_catalogue, tiny_encoder


def test_simplex_grid() -> None:
    grid = simplex_grid(3, 0.5)
    assert all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)
    assert len(grid) == 6 and (1.0, 0.0, 0.0) in grid
    assert len(simplex_grid(2, 0.05)) == 21


def test_blend_modes() -> None:
    a = np.array([[0.9, 0.1], [0.2, 0.8]])
    b = np.array([[0.5, 0.5], [0.6, 0.4]])
    lin = blend([a, b], (0.5, 0.5), "linear")
    np.testing.assert_allclose(lin, (a + b) / 2)
    geo = blend([a, b], (1.0, 0.0), "log")
    np.testing.assert_allclose(geo, a)
    np.testing.assert_allclose(blend([a, b], (0.3, 0.7), "log").sum(axis=1), 1.0)


class Noisy(LinearModel):
    """A linear model whose path probabilities are mixed with noise (a weaker, different member)."""

    kind = "linear"

    def predict_path_proba(self, texts: pd.DataFrame | pd.Series | list[str]) -> np.ndarray:
        p = super().predict_path_proba(texts)
        rng = np.random.default_rng(len(p))
        noise = rng.dirichlet(np.ones(p.shape[1]), size=len(p))
        return 0.3 * p + 0.7 * noise


def _noisy_labels(labels: pd.DataFrame, rate: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = labels.copy()
    flip = rng.random(len(out)) < rate
    out.loc[flip] = out.sample(frac=1.0, random_state=seed).to_numpy()[flip]
    return out


def test_never_worse_than_best_member_on_tuning_rows() -> None:
    texts, labels = synthetic_catalogue(200)
    good = LinearModel().fit(texts, _noisy_labels(labels, 0.3, 1))
    weak = Noisy().fit(texts, _noisy_labels(labels, 0.3, 2))
    ens = EnsembleModel.from_members([good, weak], grid_step=0.1)
    vt, vl = synthetic_catalogue(120, seed=9)
    tuning = ens.tune(vt, vl)
    assert tuning["score"] >= max(tuning["members"]) - 1e-12
    y = ens._targets(vl)
    pred = ens.paths_[ens.predict_path_proba(vt).argmax(axis=1)]
    assert level_f1(y, pred)["score"] == pytest.approx(tuning["score"])
    assert abs(sum(ens.weights_) - 1) < 1e-9


def test_members_with_different_paths_are_aligned() -> None:
    texts, labels = synthetic_catalogue(120)
    a = LinearModel().fit(texts, labels)
    keep = labels["level_2"] != "Power"
    b = LinearModel().fit(texts[keep], labels[keep])
    ens = EnsembleModel.from_members([a, b])
    assert len(ens.paths_) == len(a.paths_) and len(b.paths_) == len(a.paths_) - 1
    probs = ens.member_probs(texts.head(10))
    np.testing.assert_allclose(probs[1].sum(axis=1), 1.0, atol=1e-6)
    power = next(i for i, p in enumerate(ens.path_names()) if p[-1] == "Power")
    assert np.all(probs[1][:, power] == 0)


def test_fit_save_load_via_registry(tmp_path: Path) -> None:
    enc = tiny_encoder(tmp_path / "enc")
    texts, labels = synthetic_catalogue(240)
    members = [
        {"model": "linear", "params": {}},
        {
            "model": "fast",
            "params": {"encoder": enc, "epochs": 20, "cache_dir": "none", "num_threads": 1, "knn_weight": 0.5},
        },
    ]
    ens = EnsembleModel(members=members, grid_step=0.25).fit(texts, labels)
    assert isinstance(ens, PathModel) and len(ens.models_) == 2
    fast = ens.models_[1]
    assert len(fast.knn_index_) == 240  # 216 rows trained it, then the ensemble's 24 tuning rows joined its index
    assert ens.tuning_["score"] >= max(ens.tuning_["members"]) - 1e-12
    ens.save(tmp_path / "e")
    loaded = load_model(tmp_path / "e")
    assert isinstance(loaded, EnsembleModel) and loaded.weights_ == ens.weights_
    vt, _ = synthetic_catalogue(40, seed=3)
    pd.testing.assert_frame_equal(loaded.predict(vt), ens.predict(vt))
    top = loaded.predict_scored(vt, k=2)
    assert top.level_scores is not None and top.level_scores.shape == (40, 2)


def test_hybrid_neighbour_votes(tmp_path: Path) -> None:
    """The ensemble keeps its training rows as each capable member sees them (TF-IDF, embedding) and blends the
    votes of the nearest ones; the index survives save/load and a member-less ensemble has none."""
    import scipy.sparse as sp

    from skutag.models.neighbours.hybrid import FILE, HybridIndex

    enc = tiny_encoder(tmp_path / "enc")
    texts, labels = synthetic_catalogue(200)
    lin = LinearModel().fit(texts, labels)
    fast = create_fast(enc).fit(texts, labels)
    ens = EnsembleModel.from_members([lin, fast], grid_step=0.25)
    n_paths = len(labels.drop_duplicates())
    assert ens.build_neighbours(texts, labels) == 200 + n_paths  # the rows, then one row per path's label
    index = ens.neighbours_
    assert index is not None and len(index.parts) == 2
    assert isinstance(index.parts[0], sp.csr_matrix) and isinstance(index.parts[1], np.ndarray)
    probs = ens.member_probs(texts.head(30))
    assert len(probs) == 3 and len(ens.weights_) == 3  # two members, then the votes
    np.testing.assert_allclose(probs[2].sum(axis=1), 1.0)
    # a training title's neighbours are its own rows: the votes alone recover its path
    votes_only = ens.predict_from_proba(probs[2])
    assert (votes_only["level_2"].to_numpy() == labels["level_2"].head(30).to_numpy()).mean() > 0.9
    ens.tune(texts.tail(60), labels.tail(60))
    ens.save(tmp_path / "e")
    assert (tmp_path / "e" / FILE).is_file()
    loaded = load_model(tmp_path / "e")
    assert isinstance(loaded, EnsembleModel) and loaded.neighbours_ is not None
    vt, _ = synthetic_catalogue(40, seed=3)
    np.testing.assert_allclose(loaded.predict_path_proba(vt), ens.predict_path_proba(vt), atol=1e-3)
    # the mean of cosines: one space alone gives that space's neighbours
    one = HybridIndex([index.parts[1]], index.paths, k=1, temperature=0.01)
    q = [index.parts[1][:5]]
    assert list(one.votes(q, len(ens.paths_)).argmax(axis=1)) == list(index.paths[:5])
    off = EnsembleModel.from_members([lin], neighbours=False)
    assert off.build_neighbours(texts, labels) == 0 and off.neighbours_ is None


def test_neural_members_enter_with_their_heads_alone(tmp_path: Path) -> None:
    """With the hybrid index a neural member's blend input is its heads' distribution, not mixed with its own
    neighbour votes (``member_neighbours=True`` mixes them, as the member predicts alone); without the index the
    member predicts as it would alone; an ensemble saved before the setting loads with its members' votes on."""
    import json

    from skutag.models.card import sha256_file
    from skutag.models.paths import decode_paths

    enc = tiny_encoder(tmp_path / "enc")
    texts, labels = synthetic_catalogue(160)
    lin = LinearModel().fit(texts, labels)
    fast = create_fast(enc).fit(texts, labels)
    assert fast.knn_index_.weight > 0  # the member mixes votes of its own index when predicting alone
    queries = texts.head(25)
    x = fast.neighbour_features(queries)
    heads = decode_paths(fast._head_logits(x), fast.paths_, fast.path_temperature_)
    assert not np.allclose(heads, fast.predict_path_proba(queries), atol=1e-4)
    col = lambda ens: ens.member_probs(queries)[1][:, ens.member_index_[1]]  # noqa: E731 - the fast member's input
    ens = EnsembleModel.from_members([lin, fast])
    ens.build_neighbours(texts, labels)
    np.testing.assert_allclose(col(ens), heads, atol=1e-5)
    mixed = EnsembleModel.from_members([lin, fast], member_neighbours=True)
    mixed.build_neighbours(texts, labels)
    np.testing.assert_allclose(col(mixed), fast.predict_path_proba(queries), atol=1e-5)
    plain = EnsembleModel.from_members([lin, fast], neighbours=False)
    plain.build_neighbours(texts, labels)
    np.testing.assert_allclose(col(plain), fast.predict_path_proba(queries), atol=1e-5)
    ens.tune(texts.tail(40), labels.tail(40))
    ens.save(tmp_path / "e")
    config_file = next(p for p in (tmp_path / "e").glob("*.json") if "member_neighbours" in p.read_text("utf-8"))
    config = json.loads(config_file.read_text("utf-8"))
    assert load_model(tmp_path / "e").member_neighbours is False  # type: ignore[attr-defined]
    del config["params"]["member_neighbours"]
    config_file.write_text(json.dumps(config), "utf-8")
    meta_file = tmp_path / "e" / "meta.json"
    meta = json.loads(meta_file.read_text("utf-8"))
    meta["files"][config_file.name] = sha256_file(config_file)  # as an older skutag wrote it
    meta_file.write_text(json.dumps(meta), "utf-8")
    old = load_model(tmp_path / "e")
    assert isinstance(old, EnsembleModel) and old.member_neighbours
    np.testing.assert_allclose(col(old), fast.predict_path_proba(queries), atol=1e-3)


def test_label_rows_join_the_neighbour_index(tmp_path: Path) -> None:
    """Each path's own label (code prefix dropped) is one more row of the index: a title that is a class name finds
    that class; ``neighbour_labels=False`` keeps the labelled rows alone; the setting survives save/load."""
    from skutag.models.ensemble import label_rows, label_text

    assert label_text("64010100_Jewellery") == "Jewellery"
    assert label_text("47101500_Fresheners/Deodorisers") == "Fresheners / Deodorisers"
    assert label_text("Fruit") == "Fruit" and label_text("3D Printers") == "3D Printers"
    assert label_text("10000123_") == ""  # a bare code: no row is added for it
    frame = label_rows([("A", "10_Fruit"), ("B",)], ["title", "description"])
    assert frame.to_dict("list") == {"title": ["Fruit", "B"], "description": ["", ""]}
    texts, labels = synthetic_catalogue(120)
    lin = LinearModel().fit(texts, labels)
    ens = EnsembleModel.from_members([lin], grid_step=0.5)
    paths = labels.drop_duplicates().reset_index(drop=True)
    assert ens.build_neighbours(texts, labels) == 120 + len(paths)
    assert ens.neighbours_ is not None
    ens.neighbours_.k = 1
    queries = label_rows([tuple(p) for p in paths.itertuples(index=False)], list(texts.columns))
    votes = ens.member_probs(queries)[-1]
    found = ens.predict_from_proba(votes).reset_index(drop=True)
    pd.testing.assert_frame_equal(found, paths.set_axis(found.columns, axis=1), check_dtype=False)
    plain = EnsembleModel.from_members([lin], neighbour_labels=False)
    assert plain.build_neighbours(texts, labels) == 120
    coded = labels.copy()  # one class known only by a code: its rows count, its label adds no row
    last = coded.columns[-1]
    coded.loc[coded[last] == coded[last].iloc[0], last] = "999_"
    lin_coded = LinearModel().fit(texts, coded)
    n_coded = len(coded.drop_duplicates())
    assert EnsembleModel.from_members([lin_coded]).build_neighbours(texts, coded) == 120 + n_coded - 1
    ens.save(tmp_path / "e")
    loaded = load_model(tmp_path / "e")
    assert isinstance(loaded, EnsembleModel) and loaded.neighbour_labels
    assert len(loaded.neighbours_ or []) == 120 + len(paths)


def test_hybrid_part_weights(tmp_path: Path) -> None:
    """Lexical spaces share the lexical weight and dense ones the rest; a space with weight 0 does not count; the
    weights survive save/load and bad ones are refused."""
    import scipy.sparse as sp

    from skutag.models.neighbours.hybrid import HybridIndex, part_weights

    np.testing.assert_allclose(part_weights([True, False], 0.5), [0.5, 0.5])
    np.testing.assert_allclose(part_weights([True, False, False], 0.5), [0.5, 0.25, 0.25])
    np.testing.assert_allclose(part_weights([True, False, False], None), [1 / 3] * 3)
    np.testing.assert_allclose(part_weights([False, False], 0.9), [0.5, 0.5])  # one kind only: equal
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(50, 8))
    lexical = sp.random(50, 30, density=0.2, format="csr", random_state=1)
    paths = np.arange(50) % 7
    queries = [lexical[:10], dense[:10] + rng.normal(scale=2.0, size=(10, 8))]
    lex_only = HybridIndex([lexical, dense], paths, k=3, temperature=0.05, weights=[1.0, 0.0])
    alone = HybridIndex([lexical], paths, k=3, temperature=0.05)
    np.testing.assert_allclose(lex_only.votes(queries, 7), alone.votes(queries[:1], 7), atol=1e-9)
    mixed = HybridIndex([lexical, dense], paths, k=3, temperature=0.05, weights=[0.3, 0.7])
    mixed.save(tmp_path)
    loaded = HybridIndex.load(tmp_path, 2, 7)
    np.testing.assert_allclose(loaded.weights, [0.3, 0.7])
    np.testing.assert_allclose(loaded.votes(queries, 7), mixed.votes(queries, 7), atol=1e-3)
    for bad in ([0.5, 0.6], [1.0], [-0.5, 1.5]):
        with pytest.raises(ValueError):
            HybridIndex([lexical, dense], paths, weights=bad)
    texts, labels = synthetic_catalogue(40)
    with pytest.raises(ConfigError):
        EnsembleModel(neighbour_lexical_weight=1.5).fit(texts, labels)


def create_fast(enc: str) -> PathModel:
    from skutag.models.neural.fast import FastModel

    return FastModel(encoder=enc, epochs=20, cache_dir="none", num_threads=1)


def test_bad_member_settings_fail_before_any_member_is_fitted(monkeypatch: pytest.MonkeyPatch) -> None:
    """fit checks every member's kind and parameters first: a bad last member must not cost the others' fits."""
    texts, labels = synthetic_catalogue(60)
    fits: list[str] = []
    monkeypatch.setattr(LinearModel, "fit", lambda self, *a, **k: fits.append("linear") or self)
    bad_value = [{"model": "linear", "params": {}}, {"model": "fast", "params": {"fields": "everything"}}]
    with pytest.raises(ConfigError, match="fields must be"):
        EnsembleModel(members=bad_value).fit(texts, labels)
    with pytest.raises(ConfigError, match="bogus"):
        EnsembleModel(members=[{"model": "linear", "params": {"bogus": 1}}]).fit(texts, labels)
    with pytest.raises(ConfigError, match="each ensemble member"):
        EnsembleModel(members=["linear"]).fit(texts, labels)  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="unknown model"):
        EnsembleModel(members=[{"model": "svm"}]).fit(texts, labels)
    assert fits == []
