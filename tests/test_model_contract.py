"""The model contract, checked over every registered kind as scikit-learn's ``check_estimator`` checks estimators:
hyperparameters (get_params from the ``__init__`` signature, set_params, clone), validation at fit, declared
capabilities, and a fit on a small real slice (300 MWPD rows, 3 levels; tiny neural settings) whose predictions
are valid paths with proper probabilities and survive save -> load in a fresh process.

A new kind in ``MODELS`` fails here until it has tiny settings and an invalid value below.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from skutag.datasets.paths import find_shared_data
from skutag.errors import ConfigError, NotFittedError
from skutag.models.base import CategoryModel, clone
from skutag.models.registry import MODELS, create_model, model_class
from test_transformer_helpers import FAST_TRAINING, synthetic_catalogue, tiny_encoder

KINDS = sorted(MODELS)
N_TRAIN, N_PROBE = 300, 40

#: per kind, one hyperparameter value fit must refuse with ConfigError (construction must accept it)
INVALID: dict[str, dict[str, Any]] = {
    "linear": {"class_weight": "inverse"},
    "transformer": {"runtime": "tensorrt"},
    "fast": {"fields": "everything"},
    "ensemble": {"blends": ["median"]},
    "cascade": {"threshold": 1.5},
}

#: how far probabilities may move through save -> load (predictions and top-k paths must stay identical). The
#: ensemble's hybrid neighbour index keeps float32 rows in memory but stores float16: about 1e-5.
SAVED_ATOL = {"ensemble": 1e-4}

#: the capability flags and the methods a kind that declares one defines (CategoryModel's raise)
CAPABILITY_METHODS = {
    "supports_neighbours": ("neighbour_features",),
    "has_neighbour_index": ("add_neighbours", "path_proba_and_features"),
    "extracts_tags": ("predict_tags",),
}


def tiny_params(kind: str, encoder: str) -> dict[str, Any]:
    """Settings that fit ``kind`` in seconds on two cores (a 2-layer, 32-wide random encoder for neural kinds)."""
    neural = {"encoder": encoder, "num_threads": 1, "max_length": 24}
    fast = {**neural, "cache_dir": "none", "epochs": 20}
    params: dict[str, dict[str, Any]] = {
        "linear": {"n_jobs": 1},
        "transformer": {**neural, **FAST_TRAINING, "epochs": 2, "runtime": "torch", "knn": 5},
        "fast": fast,
        "ensemble": {
            "members": [{"model": "linear", "params": {"n_jobs": 1}}, {"model": "fast", "params": fast}],
            "grid_step": 0.25,
        },
        # a threshold most rows fall under, so the slow member answers some of the probe rows too
        "cascade": {
            "members": [
                {"model": "linear", "params": {"n_jobs": 1}},
                {"model": "linear", "params": {"n_jobs": 1, "class_weight": "balanced"}},
            ],
            "threshold": 0.5,
        },
    }
    if kind not in params or kind not in INVALID:
        pytest.fail(f"model kind {kind!r} has no tiny settings or invalid value in tests/test_model_contract.py")
    return params[kind]


@dataclass
class Zoo:
    """Training and probe rows, the tiny encoder, and each kind fitted once (on first use) for the module."""

    encoder: str
    texts: pd.DataFrame
    labels: pd.DataFrame
    probe: pd.DataFrame
    fitted: dict[str, CategoryModel] = field(default_factory=dict)

    def params(self, kind: str) -> dict[str, Any]:
        return tiny_params(kind, self.encoder)

    def model(self, kind: str) -> CategoryModel:
        if kind not in self.fitted:
            self.fitted[kind] = create_model(kind, **self.params(kind)).fit(self.texts, self.labels)
        return self.fitted[kind]


def mwpd_slice() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(texts, labels level_1..3, probe texts) from MWPD; the synthetic catalogue where the data is missing."""
    root = find_shared_data()
    if root is None or not (root / "mwpd2020" / "train.json").is_file():
        texts, labels = synthetic_catalogue(N_TRAIN)
        return texts, labels, synthetic_catalogue(N_PROBE, seed=7)[0]
    train = pd.read_json(root / "mwpd2020" / "train.json", lines=True, nrows=N_TRAIN, dtype=False)
    valid = pd.read_json(root / "mwpd2020" / "validation.json", lines=True, nrows=N_PROBE, dtype=False)
    labels = train[["lvl1", "lvl2", "lvl3"]].set_axis(["level_1", "level_2", "level_3"], axis=1)
    return train[["Name"]], labels, valid[["Name"]]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    texts, labels, probe = mwpd_slice()
    return Zoo(tiny_encoder(tmp_path_factory.mktemp("enc")), texts, labels, probe)


# ---- hyperparameters -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_init_stores_its_parameters_as_given(kind: str, zoo: Zoo) -> None:
    """get_params is the __init__ signature; __init__ stores each value unchanged and nothing else."""
    cls = model_class(kind)
    signature = inspect.signature(cls.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD for p in list(signature.values())[1:])
    assert all(p.default is not p.empty for p in list(signature.values())[1:]), "every parameter needs a default"
    params = zoo.params(kind)
    model = create_model(kind, **params)
    got = model.get_params()
    assert sorted(got) == sorted(list(signature)[1:])
    assert all(got[k] is v for k, v in params.items())
    assert set(vars(model)) <= set(got), "__init__ sets attributes that are not parameters"
    defaults = cls().get_params()
    assert all(defaults[k] is p.default for k, p in list(signature.items())[1:])


@pytest.mark.parametrize("kind", KINDS)
def test_get_params_round_trip_and_clone(kind: str, zoo: Zoo) -> None:
    model = create_model(kind, **zoo.params(kind))
    params = model.get_params()
    assert type(model)(**params).get_params() == params
    assert model.set_params(**params) is model and model.get_params() == params
    twin = clone(model)
    assert type(twin) is type(model) and twin is not model and twin.get_params() == params
    fitted = zoo.model(kind)
    refit = clone(fitted)
    assert refit.get_params() == fitted.get_params()
    assert not [k for k in vars(refit) if k.endswith("_")], "a clone carries learned state"
    with pytest.raises(NotFittedError):
        refit.predict(zoo.probe)


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_parameter_rejected(kind: str) -> None:
    model = create_model(kind)
    some_valid = sorted(model.get_params())[0]
    with pytest.raises(ConfigError, match=rf"not_a_param.*{some_valid}"):
        model.set_params(not_a_param=1)
    with pytest.raises(ConfigError, match="not_a_param"):
        create_model(kind, not_a_param=1)
    with pytest.raises(TypeError):
        model_class(kind)(not_a_param=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_value_rejected_at_fit(kind: str, zoo: Zoo) -> None:
    """Construction and set_params accept any value; fit refuses a bad one with ConfigError and learns nothing."""
    bad = create_model(kind, **{**zoo.params(kind), **INVALID[kind]})
    with pytest.raises(ConfigError):
        bad.fit(zoo.texts, zoo.labels)
    with pytest.raises(NotFittedError):
        bad.predict(zoo.probe)
    later = create_model(kind, **zoo.params(kind)).set_params(**INVALID[kind])
    with pytest.raises(ConfigError):
        later.fit(zoo.texts, zoo.labels)


@pytest.mark.parametrize("kind", KINDS)
def test_not_fitted_is_a_clear_error(kind: str, zoo: Zoo, tmp_path: Path) -> None:
    model = create_model(kind, **zoo.params(kind))
    calls = [
        lambda: model.predict(zoo.probe),
        lambda: model.predict_proba(zoo.probe),
        lambda: model.predict_topk(zoo.probe, k=2),
        lambda: model.predict_scored(zoo.probe, k=2),
        lambda: model.save(tmp_path / "m"),
    ]
    for call in calls:
        with pytest.raises(NotFittedError, match="not fitted"):
            call()
    assert not (tmp_path / "m").exists()


# ---- capabilities ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_declared_capabilities_are_true(kind: str) -> None:
    """A kind defines a capability's methods exactly when it declares the capability."""
    cls = model_class(kind)
    for flag, methods in CAPABILITY_METHODS.items():
        for name in methods:
            defined = getattr(cls, name) is not getattr(CategoryModel, name)
            assert defined == getattr(cls, flag), f"{kind}: {flag}={getattr(cls, flag)} but {name} defined={defined}"
    assert cls.fit_takes_valid == ("valid" in inspect.signature(cls.fit).parameters)
    if cls.scores_paths:
        assert callable(getattr(cls, "predict_path_proba", None)) and callable(getattr(cls, "path_names", None))


@pytest.mark.parametrize("kind", KINDS)
def test_capabilities_of_the_fitted_model(kind: str, zoo: Zoo) -> None:
    model = zoo.model(kind)
    n = len(zoo.probe)
    if model.supports_neighbours:
        assert model.neighbour_features(zoo.probe).shape[0] == n
    if model.has_neighbour_index:
        heads, _ = model.path_proba_and_features(zoo.probe, neighbours=False)
        np.testing.assert_allclose(heads.sum(axis=1), 1.0, atol=1e-6)
    if model.scores_paths:
        probs = model.predict_path_proba(zoo.probe)  # type: ignore[attr-defined]
        names = model.path_names()  # type: ignore[attr-defined]
        assert probs.shape == (n, len(names))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    if not model.extracts_tags:
        with pytest.raises(NotImplementedError):
            model.predict_tags(zoo.probe)


# ---- a fitted model --------------------------------------------------------------------------------------------


def _row_path(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(v for v in row if v is not None)


@pytest.mark.parametrize("kind", KINDS)
def test_predictions_are_valid_paths(kind: str, zoo: Zoo) -> None:
    model = zoo.model(kind)
    pred = model.predict(zoo.probe)
    assert list(pred.columns) == model.levels_ == ["level_1", "level_2", "level_3"][: zoo.labels.shape[1]]
    assert pred.index.equals(zoo.probe.index)
    for row in pred.itertuples(index=False, name=None):
        assert model.taxonomy_.is_valid_path(row), row
    # a list of titles is read as the first text column
    pd.testing.assert_frame_equal(model.predict(zoo.probe.iloc[:, 0].tolist()).set_axis(pred.index), pred)


@pytest.mark.parametrize("kind", KINDS)
def test_probabilities_sum_to_one_per_level(kind: str, zoo: Zoo) -> None:
    model = zoo.model(kind)
    proba = model.predict_proba(zoo.probe)
    assert len(proba) == len(model.levels_)
    pred = model.predict(zoo.probe)
    for level, frame in zip(model.levels_, proba, strict=True):
        assert frame.shape[0] == len(zoo.probe) and frame.index.equals(zoo.probe.index)
        values = frame.to_numpy(dtype=float)
        assert np.all(values >= -1e-9) and np.all(values <= 1 + 1e-9)
        np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-6, err_msg=level)
        assert set(pred[level].dropna()) <= set(frame.columns)


@pytest.mark.parametrize("kind", KINDS)
def test_topk_ordered_and_valid(kind: str, zoo: Zoo) -> None:
    model = zoo.model(kind)
    top = model.predict_topk(zoo.probe, k=3)
    assert len(top.paths) == len(zoo.probe) and top.scores.shape[0] == len(zoo.probe)
    assert np.all(np.diff(top.scores, axis=1) <= 1e-12), "top-k scores not in descending order"
    assert np.all(top.scores >= 0) and np.all(top.scores <= 1 + 1e-9)
    pred = model.predict(zoo.probe)
    for paths, row in zip(top.paths, pred.itertuples(index=False, name=None), strict=True):
        assert len(paths) == top.scores.shape[1] and len(set(paths)) == len(paths)
        assert all(model.taxonomy_.is_valid_path(p) for p in paths)
        assert paths[0] == _row_path(row), "top-1 path differs from predict"
    scored = model.predict_scored(zoo.probe, k=2)
    assert scored.level_scores is not None and scored.level_scores.shape == (len(zoo.probe), len(model.levels_))
    assert [p[0] for p in scored.paths] == [p[0] for p in top.paths]
    empty = model.predict(zoo.probe.iloc[:0])
    assert list(empty.columns) == model.levels_ and len(empty) == 0


#: the fresh process: imports, then :func:`outputs` (its source), then this
_FRESH_IMPORTS = """
import json, sys
from typing import Any
import numpy as np
import pandas as pd
from skutag.models.base import CategoryModel
from skutag.models.registry import load_model
"""
_FRESH_MAIN = """
model = load_model(sys.argv[1])
probe = pd.DataFrame(json.loads(open(sys.argv[2], encoding="utf-8").read()))
json.dump(outputs(model, probe), open(sys.argv[3], "w", encoding="utf-8"))
"""


def outputs(model: CategoryModel, probe: pd.DataFrame) -> dict[str, Any]:
    """predict, predict_proba and predict_topk as JSON-able values (floats survive JSON exactly)."""
    top = model.predict_topk(probe, k=3)
    return {
        "predict": model.predict(probe).to_numpy().tolist(),
        "proba": [[list(f.columns), f.to_numpy(dtype=float).tolist()] for f in model.predict_proba(probe)],
        "topk": [[list(map(list, p)) for p in top.paths], np.asarray(top.scores, dtype=float).tolist()],
    }


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_in_a_fresh_process_predicts_the_same(kind: str, zoo: Zoo, tmp_path: Path) -> None:
    model = zoo.model(kind)
    model.save(tmp_path / "m")
    (tmp_path / "probe.json").write_text(json.dumps(zoo.probe.to_dict("list")), "utf-8")
    script = _FRESH_IMPORTS + inspect.getsource(outputs) + _FRESH_MAIN
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-c", script, str(tmp_path / "m"), str(tmp_path / "probe.json"), str(tmp_path / "o.json")]
    run = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    fresh = json.loads((tmp_path / "o.json").read_text("utf-8"))
    here = json.loads(json.dumps(outputs(model, zoo.probe)))
    assert fresh["predict"] == here["predict"]
    assert fresh["topk"][0] == here["topk"][0]
    atol = SAVED_ATOL.get(kind, 1e-6)
    np.testing.assert_allclose(fresh["topk"][1], here["topk"][1], rtol=0, atol=atol)
    for (cols_f, vals_f), (cols_h, vals_h) in zip(fresh["proba"], here["proba"], strict=True):
        assert cols_f == cols_h
        np.testing.assert_allclose(vals_f, vals_h, rtol=0, atol=atol)
