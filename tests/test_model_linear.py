"""The linear model: contract, valid paths, probabilities, top-k, multilingual text, real MWPD slice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skutag.datasets.paths import find_shared_data
from skutag.errors import ConfigError, MissingColumnError, NotFittedError
from skutag.models import create_model
from skutag.models.linear.model import LinearModel
from test_model_data import TREE, labels_of, synthetic

TEXT = ["title", "shop_category"]


@pytest.fixture(scope="module")
def fitted() -> tuple[LinearModel, pd.DataFrame]:
    train, test = synthetic(400, seed=1), synthetic(200, seed=2)
    model = LinearModel(n_jobs=1).fit(train[TEXT], labels_of(train))
    return model, test


def test_init_only_stores_params_and_registry() -> None:
    model = create_model("linear", C=0.25)
    assert isinstance(model, LinearModel) and model.C == 0.25
    assert not [k for k in vars(model) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        model.predict(pd.DataFrame({"title": ["x"]}))
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("nope")


def test_learns_and_predicts_valid_paths(fitted: tuple[LinearModel, pd.DataFrame]) -> None:
    model, test = fitted
    pred = model.predict(test[TEXT])
    assert list(pred.columns) == ["level_1", "level_2", "level_3"]
    assert (pred.to_numpy() == labels_of(test).to_numpy()).all(axis=1).mean() > 0.9
    for row in pred.itertuples(index=False, name=None):
        assert tuple(row) in TREE and model.taxonomy_.is_valid_path(row)


def test_proba_and_topk_consistent(fitted: tuple[LinearModel, pd.DataFrame]) -> None:
    model, test = fitted
    proba = model.predict_proba(test[TEXT])
    pred = model.predict(test[TEXT])
    assert len(proba) == 3
    for lv, frame in enumerate(proba):
        np.testing.assert_allclose(frame.sum(axis=1), 1.0, atol=1e-6)
        assert (frame.to_numpy() >= 0).all()
        # the level marginal of the decoded path's node is at least the path's own probability
        picked = frame.to_numpy()[np.arange(len(test)), [frame.columns.get_loc(c) for c in pred.iloc[:, lv]]]
        assert (picked > 0).all()
    top = model.predict_topk(test[TEXT], k=4)
    assert top.scores.shape == (len(test), 4)
    assert (np.diff(top.scores, axis=1) <= 1e-12).all() and (top.scores <= 1 + 1e-9).all()
    assert [p[0] for p in top.paths] == [tuple(r) for r in pred.itertuples(index=False, name=None)]
    assert all(len(set(p)) == 4 for p in top.paths)
    scored = model.predict_scored(test[TEXT], k=2)
    assert scored.level_scores is not None
    # per-level scores of a path never decrease towards the root and are at least the path score
    assert (np.diff(scored.level_scores, axis=1) <= 1e-9).all()
    assert (scored.level_scores[:, -1] >= scored.scores[:, 0] - 1e-9).all()


def test_chinese_titles_use_char_ngrams(fitted: tuple[LinearModel, pd.DataFrame]) -> None:
    model, _ = fitted
    pred = model.predict(pd.DataFrame({"title": ["苹果 特价", "炒锅 新款"], "shop_category": ["", ""]}))
    assert pred["level_3"].tolist() == ["Apples", "Pans"]


def test_input_forms_and_missing_columns(fitted: tuple[LinearModel, pd.DataFrame]) -> None:
    model, _ = fitted
    assert model.predict(["gala apple", "chess"])["level_3"].tolist() == ["Apples", "Board"]
    assert len(model.predict(pd.DataFrame({"title": [], "shop_category": []}))) == 0
    with pytest.raises(MissingColumnError):
        model.predict(pd.DataFrame({"other": ["x"]}))


def test_variable_depth_paths_and_single_class_level() -> None:
    df = pd.DataFrame(
        {
            "title": ["red apple", "green apple", "cheddar block", "brie round", "toy car", "toy truck"] * 5,
            "l1": ["Food", "Food", "Food", "Food", "Toys", "Toys"] * 5,
            "l2": ["Fruit", "Fruit", "Cheese", "Cheese", None, None] * 5,
        }
    )
    labels = df[["l1", "l2"]].set_axis(["level_1", "level_2"], axis=1)
    model = LinearModel(calibration_fraction=0).fit(df[["title"]], labels)
    pred = model.predict(pd.DataFrame({"title": ["apple", "toy lorry"]}))
    assert pred.iloc[0].tolist() == ["Food", "Fruit"]
    assert pred.iloc[1, 0] == "Toys" and pred.iloc[1, 1] is None
    same = LinearModel(calibration_fraction=0).fit(df[["title"]], labels.assign(level_1="All"))
    assert set(same.predict(df[["title"]])["level_1"]) == {"All"}


def test_bad_fit_inputs() -> None:
    df = synthetic(30)
    with pytest.raises(ConfigError):
        LinearModel().fit(df[["title"]], labels_of(df).iloc[:10])
    with pytest.raises(ConfigError, match="level-1"):
        LinearModel().fit(df[["title"]], labels_of(df).assign(level_1=None))


def _mwpd() -> tuple[pd.DataFrame, pd.DataFrame]:
    root = find_shared_data()
    if root is None or not (root / "mwpd2020" / "train.json").is_file():
        pytest.skip("shared MWPD data absent")
    train = pd.read_json(root / "mwpd2020" / "train.json", lines=True, nrows=2000)
    valid = pd.read_json(root / "mwpd2020" / "validation.json", lines=True)
    return train, valid


def test_every_mwpd_validation_prediction_is_a_valid_path() -> None:
    train, valid = _mwpd()
    cols = ["Name", "CategoryText"]
    labels = train[["lvl1", "lvl2", "lvl3"]].set_axis(["level_1", "level_2", "level_3"], axis=1)
    model = LinearModel().fit(train[cols], labels)
    pred = model.predict(valid[cols])
    assert len(pred) == len(valid) == 3000
    invalid = [row for row in pred.itertuples(index=False, name=None) if not model.taxonomy_.is_valid_path(row)]
    assert invalid == []
    # and a level-3 node is never paired with a level-1 node from another branch
    seen = set(labels.itertuples(index=False, name=None))
    assert set(pred.itertuples(index=False, name=None)) <= seen
    assert (pred["level_1"] == valid["lvl1"]).mean() > 0.7


def test_class_ranges_fit_the_same_one_vs_rest_problems() -> None:
    """A level fitted in ranges of classes (to balance threads) gives the same SVMs as one fit."""
    from skutag.models.linear.features import MultiFieldVectorizer, NgramConfig
    from skutag.models.linear.model import _fit_svm

    train = synthetic(300, seed=3)
    x = MultiFieldVectorizer({"title": NgramConfig()}).fit_transform({"title": train["title"].tolist()})
    y = pd.factorize(labels_of(train)["level_3"])[0]
    k = int(y.max()) + 1
    fitted = {}
    for weight in (None, "balanced", "sqrt"):
        coef, icpt = _fit_svm(x, y, k, 0.5, weight, 5000, 0)
        fitted[weight] = icpt
        parts = [_fit_svm(x, y, k, 0.5, weight, 5000, 0, lo, hi) for lo, hi in ((0, 2), (2, 3), (3, k))]
        np.testing.assert_allclose(np.concatenate([p[0] for p in parts], axis=1), coef, atol=2e-3)
        np.testing.assert_allclose(np.concatenate([p[1] for p in parts]), icpt, atol=2e-3)
    # 'sqrt' is a milder push towards rare classes than 'balanced': the rarest class's intercept lies between
    rare = int(np.bincount(y).argmin())
    assert fitted[None][rare] < fitted["sqrt"][rare] < fitted["balanced"][rare]
    bad = LinearModel(class_weight="inverse")  # stored as given; fit refuses it before any work
    with pytest.raises(ConfigError, match="class_weight must be None or one of"):
        bad.fit(pd.DataFrame({"title": train["title"]}), labels_of(train))


def test_big_catalogue_rules_one_fit_and_balanced_threads(
    fitted: tuple[LinearModel, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above refit_max_rows the calibration fit is the model; with more threads a big level is split in class
    ranges; both still give calibrated, accurate valid paths."""
    import skutag.models.linear.model as linear

    base, test = fitted
    calls: list[tuple[int, int, int | None]] = []
    real = linear._fit_svm

    def spy(x, y, n, *args):  # type: ignore[no-untyped-def]
        calls.append((x.shape[0], n, args[5] if len(args) > 5 else None))
        return real(x, y, n, *args)

    monkeypatch.setattr(linear, "_fit_svm", spy)
    train = synthetic(400, seed=1)
    one_fit = LinearModel(n_jobs=2, refit_max_rows=100, calibration_max_rows=60).fit(train[TEXT], labels_of(train))
    pred = one_fit.predict(test[TEXT])
    assert (pred.to_numpy() == labels_of(test).to_numpy()).all(axis=1).mean() > 0.85
    assert one_fit.path_temperature_ != 1.0
    assert not np.allclose(one_fit.coef_, base.coef_)  # fitted on 340 rows, not 400
    assert {rows for rows, _, _ in calls} == {340} and len(calls) == 3
    calls.clear()
    split = LinearModel(n_jobs=8).fit(train[TEXT], labels_of(train))
    assert len(calls) > 6 and {rows for rows, _, _ in calls} == {320, 400}  # levels fitted in class ranges
    np.testing.assert_allclose(split.coef_, base.coef_, atol=2e-2)
    assert (split.predict(test[TEXT]).to_numpy() == base.predict(test[TEXT]).to_numpy()).all(axis=1).mean() > 0.98
