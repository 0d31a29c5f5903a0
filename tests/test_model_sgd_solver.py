"""The averaged-SGD solver for big catalogues: learns, is reproducible and thread-count independent, matches
liblinear on a real MWPD slice, and is what the linear model uses above ``sgd_min_rows``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from skutag.datasets.paths import find_shared_data
from skutag.errors import ConfigError
from skutag.models.linear.features import MultiFieldVectorizer, NgramConfig
from skutag.models.linear.model import LinearModel
from skutag.models.linear.sgd_solver import fit_ovr_sgd
from skutag.models.registry import load_model
from test_model_data import labels_of, synthetic

TEXT = ["title", "shop_category"]


def _codes(labels: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
    codes = [pd.factorize(labels[c])[0] for c in labels.columns]
    return np.stack(codes, axis=1).astype(np.int64), [int(c.max()) + 1 for c in codes]


def test_learns_all_levels_reproducibly_whatever_the_threads() -> None:
    train = synthetic(400, seed=1)
    x = MultiFieldVectorizer({"title": NgramConfig()}).fit_transform({"title": train["title"].tolist()})
    y, n_classes = _codes(labels_of(train))
    coef, icpt = fit_ovr_sgd(x, y, n_classes, 2.0, epochs=10, n_jobs=1)
    assert coef.shape == (x.shape[1], sum(n_classes)) and icpt.shape == (sum(n_classes),)
    scores = np.asarray(x @ coef) + icpt
    offsets = np.cumsum([0, *n_classes])
    for lv in range(y.shape[1]):
        assert (scores[:, offsets[lv] : offsets[lv + 1]].argmax(axis=1) == y[:, lv]).mean() > 0.95
    # one-vs-rest problems are independent: class ranges on 3 threads give the very same numbers
    coef3, icpt3 = fit_ovr_sgd(x, y, n_classes, 2.0, epochs=10, n_jobs=3)
    np.testing.assert_array_equal(coef3, coef)
    np.testing.assert_array_equal(icpt3, icpt)
    other, _ = fit_ovr_sgd(x, y, n_classes, 2.0, epochs=10, n_jobs=1, seed=5)
    assert not np.array_equal(other, coef)
    # 'balanced' up-weights rare classes: their scores rise
    rare = int(np.bincount(y[:, 2]).argmin()) + int(offsets[2])
    _, icpt_bal = fit_ovr_sgd(x, y, n_classes, 2.0, epochs=10, n_jobs=1, class_weight="balanced")
    _, icpt_sqrt = fit_ovr_sgd(x, y, n_classes, 2.0, epochs=10, n_jobs=1, class_weight="sqrt")
    assert icpt[rare] < icpt_sqrt[rare] < icpt_bal[rare]
    for loss in ("hinge", "modified_huber"):
        c, b = fit_ovr_sgd(x, y, n_classes, 2.0, epochs=10, n_jobs=1, loss=loss)
        s = np.asarray(x @ c) + b
        assert (s[:, offsets[2] :].argmax(axis=1) == y[:, 2]).mean() > 0.95
    with pytest.raises(ConfigError, match="loss must be one of"):
        fit_ovr_sgd(x, y, n_classes, 2.0, loss="log")
    # the rows argument trains on those rows only, read in place: as if the matrix had been sliced
    rows = np.arange(0, x.shape[0], 2)
    sub, _ = fit_ovr_sgd(x, y, n_classes, 2.0, rows=rows, epochs=4, n_jobs=2)
    sliced, _ = fit_ovr_sgd(x[rows], y[rows], n_classes, 2.0, epochs=4, n_jobs=2)
    assert np.corrcoef(sub.ravel(), sliced.ravel())[0, 1] > 0.99  # same rows, another visiting order


def test_linear_model_uses_sgd_above_the_threshold(tmp_path) -> None:  # type: ignore[no-untyped-def]
    train, test = synthetic(400, seed=1), synthetic(200, seed=2)
    model = LinearModel(n_jobs=2, sgd_min_rows=100).fit(train[TEXT], labels_of(train))
    assert model.solver_ == "sgd"
    pred = model.predict(test[TEXT])
    assert (pred.to_numpy() == labels_of(test).to_numpy()).all(axis=1).mean() > 0.9
    assert model.path_temperature_ != 1.0
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, LinearModel) and again.solver_ == "sgd"
    pd.testing.assert_frame_equal(again.predict(test[TEXT]), pred)
    assert LinearModel(n_jobs=1).fit(train[TEXT], labels_of(train)).solver_ == "liblinear"
    with pytest.raises(ConfigError, match="solver must be one of"):
        LinearModel(solver="adam").fit(train[TEXT], labels_of(train))


def test_sgd_matches_liblinear_on_mwpd() -> None:
    """On 4,000 real MWPD titles, the sgd solver's mean weighted F1 over levels is within 1.5 points of
    liblinear's (both calibrated and path-decoded)."""
    root = find_shared_data()
    if root is None or not (root / "mwpd2020" / "train.json").is_file():
        pytest.skip("MWPD not in ../shared/data")
    train = pd.read_json(root / "mwpd2020" / "train.json", lines=True, nrows=4000)
    valid = pd.read_json(root / "mwpd2020" / "validation.json", lines=True)
    levels = ["lvl1", "lvl2", "lvl3"]
    labels = train[levels].set_axis(["level_1", "level_2", "level_3"], axis=1)

    def score(solver: str) -> float:
        pred = LinearModel(solver=solver).fit(train[["Name"]], labels).predict(valid[["Name"]])
        pairs = zip(levels, pred, strict=True)
        return float(np.mean([f1_score(valid[g], pred[p], average="weighted") for g, p in pairs]))

    sgd, exact = score("sgd"), score("liblinear")
    print(f"mean weighted F1 sgd {sgd:.4f} liblinear {exact:.4f}")
    assert sgd > exact - 0.01, (sgd, exact)
