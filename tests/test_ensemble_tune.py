"""The ensemble tuned on given rows (``fit(valid=...)``, ``skutag train --tune``): its blend weights come from
those rows, its refit members are then trained on training + tuning rows (a class only the tuning rows hold
becomes predictable), and the model card says what the rows were used for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from skutag.cli.main import app
from skutag.datasets.paths import find_shared_data
from skutag.errors import ConfigError
from skutag.models.ensemble import EnsembleModel
from skutag.models.registry import load_model
from skutag.workflows.train import TUNING_NOTE, train_model
from test_model_data import synthetic

LEVELS = ["level_1", "level_2", "level_3"]
#: one cheap member (the linear model on titles) and the hybrid neighbour votes: two blend inputs
MEMBERS = [{"model": "linear", "params": {"n_jobs": 1, "calibration_max_rows": 400}}]
N_TRAIN = 1200
N_TUNE = 300


@pytest.fixture(scope="module")
def mwpd() -> dict[str, Any]:
    """An MWPD slice: training rows without one level-3 class X, tuning rows with half of X's rows."""
    root = find_shared_data()
    if root is None or not (root / "mwpd2020" / "train.json").is_file():
        pytest.skip("shared MWPD data absent")
    df = pd.read_json(root / "mwpd2020" / "train.json", lines=True, nrows=2400, dtype=False)
    counts = df["lvl3"].value_counts()
    x_class = sorted(counts[(counts >= 12) & (counts <= 40)].index)[0]
    is_x = (df["lvl3"] == x_class).to_numpy()
    rest, xs = df[~is_x], df[is_x]
    train = rest.iloc[:N_TRAIN]
    tune = pd.concat([rest.iloc[N_TRAIN : N_TRAIN + N_TUNE], xs.iloc[: len(xs) // 2]], ignore_index=True)
    probe = xs.iloc[len(xs) // 2 :]

    def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        labels = frame[["lvl1", "lvl2", "lvl3"]].set_axis(LEVELS, axis=1).reset_index(drop=True)
        return frame[["Name"]].reset_index(drop=True), labels

    x_path = tuple(xs[["lvl1", "lvl2", "lvl3"]].iloc[0])
    return {"train": split(train), "tune": split(tune), "probe": split(probe), "x_path": x_path, "n_x": len(xs) // 2}


def test_weights_tuned_on_the_given_rows_then_refitted_on_them(
    mwpd: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tx, ty), (vx, vy) = mwpd["train"], mwpd["tune"]
    x_path = mwpd["x_path"]
    tuned_on: list[pd.DataFrame] = []
    real_tune = EnsembleModel.tune

    def spy(self: EnsembleModel, texts: pd.DataFrame, labels: pd.DataFrame, probs: Any = None) -> dict[str, Any]:
        tuned_on.append(texts)
        return real_tune(self, texts, labels, probs)

    monkeypatch.setattr(EnsembleModel, "tune", spy)
    ens = EnsembleModel(members=MEMBERS, grid_step=0.05).fit(tx, ty, valid=(vx, vy))
    assert len(tuned_on) == 1
    pd.testing.assert_frame_equal(tuned_on[0].reset_index(drop=True), vx)  # the weights come from the given rows
    tuning = ens.tuning_
    assert tuning is not None
    assert tuning["source"] == "tuning rows" and tuning["rows"] == len(vx) and tuning["training_rows"] == len(tx)
    assert tuning["refit"] == ["linear"] and tuning["refit_on"] == "training + tuning rows"
    assert len(tuning["weights"]) == 2 and abs(sum(tuning["weights"]) - 1) < 1e-9
    # the tuning rows calibrate the model: scored before the refit, by members that had not seen them
    held = ens.heldout_
    assert held is not None and len(held.confidence) == len(vx) and held.n_rows == len(tx) + len(vx)
    assert not held.correct[-mwpd["n_x"] :].any()  # class X was unknown to the members that scored them
    # the refitted linear member and the neighbour index saw the tuning rows: class X (only there) is predictable
    assert x_path in ens.path_names() and x_path in ens.models_[0].path_names()  # type: ignore[attr-defined]
    assert ens.neighbours_ is not None and len(ens.neighbours_) >= len(tx) + len(vx)
    x_rows = vx.tail(mwpd["n_x"])
    found = [tuple(r) for r in ens.predict(x_rows).itertuples(index=False, name=None)]
    assert sum(p == x_path for p in found) >= 0.7 * len(found)
    px, _ = mwpd["probe"]  # X's other rows, never seen: some found too
    assert any(tuple(r) == x_path for r in ens.predict(px).itertuples(index=False, name=None))

    # the same rows without a refit: the members never saw class X, which stays out of reach (the check can fail)
    frozen = EnsembleModel(members=MEMBERS, grid_step=0.05, refit=[]).fit(tx, ty, valid=(vx, vy))
    assert frozen.tuning_ is not None and frozen.tuning_["refit"] == [] and frozen.tuning_["refit_on"] is None
    assert x_path not in frozen.path_names()
    assert frozen.tuning_["weights"] == tuning["weights"]  # the same tuning, before the refit

    # without tuning rows: a tenth of the training rows, as before, and other weights
    held_out = EnsembleModel(members=MEMBERS, grid_step=0.05).fit(tx, ty)
    assert held_out.tuning_ is not None and held_out.tuning_["source"] == "held-out training rows"
    assert held_out.tuning_["rows"] == round(0.1 * len(tx)) and held_out.tuning_["refit_on"] == "all training rows"
    assert held_out.heldout_ is None and x_path not in held_out.path_names()
    assert held_out.tuning_["weights"] != tuning["weights"]


def test_bad_tuning_rows() -> None:
    df = synthetic(80, seed=1)
    texts = df[["title"]]
    labels = df[["lvl1", "lvl2", "lvl3"]].set_axis(LEVELS, axis=1)
    ens = EnsembleModel(members=MEMBERS)
    with pytest.raises(ConfigError, match="no tuning rows"):
        ens.fit(texts, labels, valid=(texts.head(0), labels.head(0)))
    with pytest.raises(ConfigError, match="lack the text column"):
        ens.fit(texts, labels, valid=(df[["shop_category"]], labels))
    with pytest.raises(ConfigError, match="label columns"):
        ens.fit(texts, labels, valid=(texts, labels.iloc[:, :2]))
    with pytest.raises(ConfigError, match="level-1"):
        ens.fit(texts, labels, valid=(texts, labels.assign(level_1=None)))


runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tune")
    for name, n, seed in (("train", 240, 1), ("tune", 80, 2), ("valid", 80, 3)):
        synthetic(n, seed=seed).to_csv(d / f"{name}.csv", index=False)
    return {name: d / f"{name}.csv" for name in ("train", "tune", "valid")} | {"dir": d}


def _train(files: dict[str, Path], out: Path, *extra: str) -> Any:
    args = ["train", str(files["train"]), "--text", "title", "--label", "category", "--label-sep", " > "]
    params = json.dumps({"members": MEMBERS, "grid_step": 0.25})
    return runner.invoke(app, [*args, "--model", "ensemble", "--params", params, "--out", str(out), *extra])


def test_train_tune_flag_and_model_card(files: dict[str, Path]) -> None:
    out = files["dir"] / "model"
    res = _train(files, out, "--tune", str(files["tune"]), "--valid", str(files["valid"]))
    assert res.exit_code == 0, res.output
    printed = " ".join(res.output.split())
    assert "tuned on 80 rows" in printed and "refitted linear on training + tuning rows" in printed
    meta = json.loads((out / "meta.json").read_text("utf-8"))
    tuning = meta["tuning"]
    assert tuning["data"] == [str(files["tune"])] and tuning["rows"] == 80 and tuning["rows_rejected"] == 0
    assert tuning["source"] == "tuning rows" and tuning["refit_on"] == "training + tuning rows"
    assert tuning["note"] == TUNING_NOTE and "not an unbiased estimate" in TUNING_NOTE
    assert meta["rows_used"] == 240 and meta["calibration"]["source"] == "validation"
    assert load_model(out).card_["tuning"]["weights"] == tuning["weights"]
    # without --valid the tuning rows, scored before the refit, calibrate the auto-accept threshold
    alone = train_model(
        files["train"],
        text=["title"],
        label=["category"],
        label_sep=" > ",
        model="ensemble",
        params={"members": MEMBERS, "grid_step": 0.25},
        tune=files["tune"],
        progress=False,
    )
    calibration = alone.meta["calibration"]
    assert (
        calibration["source"] == "held-out" and "the tuning rows, scored before the refit" in calibration["description"]
    )


def test_tune_and_valid_the_same_file_warns(files: dict[str, Path]) -> None:
    res = _train(files, files["dir"] / "same", "--tune", str(files["tune"]), "--valid", str(files["tune"]))
    assert res.exit_code == 0, res.output
    assert "both the tuning and the validation file" in " ".join(res.output.split())
    meta = json.loads((files["dir"] / "same" / "meta.json").read_text("utf-8"))
    assert any("optimistic" in w for w in meta["warnings"])


def test_tune_is_for_the_ensemble(files: dict[str, Path]) -> None:
    args = ["train", str(files["train"]), "--text", "title", "--label", "category", "--label-sep", " > "]
    res = runner.invoke(app, [*args, "--out", str(files["dir"] / "lin"), "--tune", str(files["tune"])])
    assert res.exit_code == 2 and "--tune is for the ensemble" in " ".join(res.output.split())


def test_a_neural_member_keeps_its_fit_and_indexes_the_tuning_rows(tmp_path: Path) -> None:
    """A member not refitted (here the fast model) trains on the training rows alone; the tuning rows join its
    neighbour index, and the saved ensemble predicts as fitted."""
    pytest.importorskip("torch")
    from test_transformer_helpers import synthetic_catalogue, tiny_encoder

    enc = tiny_encoder(tmp_path / "enc")
    texts, labels = synthetic_catalogue(200)
    vt, vl = synthetic_catalogue(60, seed=5)
    fast = {"encoder": enc, "epochs": 20, "cache_dir": "none", "num_threads": 1, "knn_weight": 0.5}
    members = [{"model": "linear", "params": {}}, {"model": "fast", "params": fast}]
    ens = EnsembleModel(members=members, grid_step=0.25).fit(texts, labels, valid=(vt, vl))
    assert ens.tuning_ is not None and ens.tuning_["refit"] == ["linear"] and ens.tuning_["rows"] == 60
    assert len(ens.models_[1].knn_index_) == 200 + 60  # type: ignore[attr-defined]
    ens.save(tmp_path / "e")
    loaded = load_model(tmp_path / "e")
    assert isinstance(loaded, EnsembleModel) and loaded.tuning_ == ens.tuning_
    pd.testing.assert_frame_equal(loaded.predict(vt), ens.predict(vt))
