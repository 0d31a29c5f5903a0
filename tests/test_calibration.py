"""Calibration without a validation file, on real MWPD rows.

- A small catalogue (720 training offers) calibrates on every row by cross-validation: its probabilities are
  calibrated on unseen validation offers at every level (the per-level temperature fitted on a 20% hold-out of a
  small catalogue collapsed at level 3, where most held-out rows had classes the fit had never seen: ECE 0.49).
- ``skutag train`` without ``--valid`` stores a precision-coverage table made of out-of-fold scores in the model
  card, and the served threshold for 98% precision reaches 98% on held-out validation offers (within sampling error).
- A model without calibration, or with a fixed threshold, claims no precision; without calibration it auto-accepts
  nothing.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.stats import binomtest

from skutag.catalogue.labelled import load_labelled
from skutag.datasets.paths import find_shared_data
from skutag.evaluation.metrics import calibration_table, thin_curve, threshold_for_precision
from skutag.models.linear.model import LinearModel
from skutag.serving.app import create_app
from skutag.serving.calibration import NEVER, threshold_from_card
from skutag.serving.settings import ServeSettings
from skutag.serving.tagger import Tagger, load_served_model
from skutag.store.tables import DECISION_AUTO, DECISION_REVIEW
from skutag.taxonomy import clean_path
from skutag.workflows.evaluate import evaluate_model
from skutag.workflows.train import train_model

TEXT = ["Name", "Description"]
LABEL = ["lvl1", "lvl2", "lvl3"]
TARGET = 0.98
CV_3000 = "cross-validated on 3,000 training rows, 5 folds"


def mwpd() -> Path:
    root = find_shared_data()
    if root is None or not (root / "mwpd2020" / "train.json").is_file():
        pytest.skip("MWPD shared data not found")
    return root / "mwpd2020"


def head(src: Path, dst: Path, n: int) -> Path:
    with src.open(encoding="utf-8") as fh, dst.open("w", encoding="utf-8") as out:
        out.writelines(itertools.islice(fh, n))
    return dst


def validation_products() -> tuple[list[dict[str, str]], list[tuple[str, ...]]]:
    """Every MWPD validation offer as an API product, and its true path."""
    products, truth = [], []
    with (mwpd() / "validation.json").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            products.append({"id": f"v{r['ID']}", "name": r["Name"] or "", "description": r["Description"] or ""})
            truth.append(clean_path([r[c] for c in LABEL]))
    return products, truth


def test_small_catalogue_is_calibrated_at_every_level(tmp_path: Path) -> None:
    data = mwpd()
    train = load_labelled(head(data / "train.json", tmp_path / "train.json", 720), text=TEXT, label=LABEL)
    valid = load_labelled(data / "validation.json", text=TEXT, label=LABEL)
    model = LinearModel().fit(train.texts, train.labels)
    held = model.heldout_
    assert held is not None and held.folds == 5 and len(held.confidence) == held.n_rows == 720
    assert held.describe() == "cross-validated on 720 training rows, 5 folds"
    # SVM margins sit near +-1: a calibrated level's temperature is well above 1 (a collapsed one was 0.08)
    assert (model.level_temperature_ > 2).all() and 0.1 < model.path_temperature_ < 5
    result = evaluate_model(model, valid.texts, valid.labels)
    ece = {name: level["ece"] for name, level in result.levels.items()}
    assert max(ece.values()) < 0.15 and ece["level_3"] < 0.08, ece  # measured 0.096 / 0.100 / 0.042
    assert result.path["ece"] < 0.08
    # the out-of-fold table agrees with unseen rows: its accuracy and mean confidence are close to validation's
    assert abs(held.confidence.mean() - held.correct.mean()) < 0.05


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear model trained without --valid on 3,000 MWPD training offers."""
    tmp = tmp_path_factory.mktemp("calib")
    out = tmp / "model"
    train_model(head(mwpd() / "train.json", tmp / "train.json", 3000), text=TEXT, label=LABEL, out=out)
    return out


def test_training_without_validation_stores_a_cross_validated_table(trained: Path) -> None:
    card = json.loads((trained / "meta.json").read_text(encoding="utf-8"))
    cal = card["calibration"]
    assert cal["source"] == "cross-validation" and cal["folds"] == 5 and cal["rows"] == cal["training_rows"] == 3000
    assert cal["description"] == CV_3000
    # every stored threshold reaches its target with 95% confidence on the out-of-fold rows
    assert all(t["lower_bound"] >= t["target"] for t in cal["thresholds"] if t["threshold"] is not None)
    assert "validation" not in card
    got = threshold_from_card(card, TARGET)
    assert got is not None and got.calibrated and got.source == "cross-validation" and got.threshold < 1
    assert got.precision is not None and got.precision >= TARGET and got.coverage is not None and got.coverage > 0.2
    # a target without a stored threshold is read off the thinned curve, still reaching it
    other = threshold_from_card(card, 0.965)
    assert other is not None and other.calibrated and other.precision is not None and other.precision >= 0.965


def test_served_target_precision_holds_on_held_out_offers(trained: Path) -> None:
    served = load_served_model(trained, target_precision=TARGET)
    assert served.calibration.calibrated and served.calibration.claimed_precision == TARGET
    products, truth = validation_products()
    records = Tagger(served).tag(products)
    accepted = np.array([r.decision == DECISION_AUTO for r in records])
    right = np.array([tuple(r.path) == t for r, t in zip(records, truth, strict=True)])
    n, k = int(accepted.sum()), int(right[accepted].sum())
    assert n > 0.25 * len(products), f"only {n} of {len(products)} auto-accepted"
    # precision of the auto-accepted offers is not significantly below the target (one-sided binomial test, 1%)
    p = binomtest(k, n, TARGET, alternative="less").pvalue
    assert p > 0.01, f"{k}/{n} = {k / n:.4f} right among auto-accepted: below {TARGET} (p = {p:.2g})"


def test_answers_state_what_the_threshold_is(trained: Path, tmp_path: Path) -> None:
    """Calibrated: target precision and where it was calibrated. Fixed: no claim. Uncalibrated: no claim, and every
    result needs review unless a fallback threshold is set explicitly (which is then no claim either)."""
    bare = tmp_path / "bare"
    train_model(
        head(mwpd() / "train.json", tmp_path / "train.json", 300),
        text=TEXT,
        label=LABEL,
        out=bare,
        params={"calibration_fraction": 0},
    )
    card = json.loads((bare / "meta.json").read_text(encoding="utf-8"))
    assert card["calibration"]["source"] is None and card["calibration"]["description"].startswith("not calibrated")
    products = validation_products()[0][:30]
    cases = [
        (trained, {}, True),
        (trained, {"threshold": 0.5}, False),
        (bare, {}, False),
        (bare, {"fallback_threshold": 0.0}, False),
    ]
    for i, (model_dir, settings, calibrated) in enumerate(cases):
        params = {"model_dir": model_dir, "db_url": f"sqlite:///{tmp_path / f'{i}.db'}", "worker_process": False}
        with TestClient(create_app(ServeSettings(**params, **settings))) as client:  # type: ignore[arg-type]
            body = client.post("/v1/tag", json={"products": products}).json()
            info = client.get("/v1/models").json()["models"][0]
        assert body["calibrated"] is info["calibrated"] is calibrated, body["calibration"]
        decisions = {r["decision"] for r in body["results"]}
        if calibrated:
            assert body["target_precision"] == info["target_precision"] == TARGET
            assert body["calibration"] == f"calibrated for precision 0.98: {CV_3000}"
        else:
            assert body["target_precision"] is None and info["target_precision"] is None
        if "threshold" in settings:
            assert body["calibration"] == "fixed threshold 0.5 (SKUTAG_THRESHOLD), not calibrated"
        elif model_dir == bare and "fallback_threshold" in settings:
            assert body["threshold"] == 0.0 and decisions == {DECISION_AUTO}
            assert "SKUTAG_FALLBACK_THRESHOLD" in body["calibration"]
        elif model_dir == bare:
            assert body["threshold"] == NEVER and decisions == {DECISION_REVIEW}
            assert body["calibration"].endswith("nothing is auto-accepted") and "not calibrated" in body["calibration"]


def test_calibration_table_and_thinned_curve() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 5000)
    right = rng.uniform(0, 1, 5000) < conf
    table = calibration_table(conf, right)
    assert table["rows"] == 5000 and abs(table["ece"]) < 0.05
    curve = table["curve"]
    assert len(curve["threshold"]) <= 200 and curve["coverage"][-1] == 1.0
    assert curve["coverage"] == sorted(curve["coverage"]) and curve["threshold"] == sorted(curve["threshold"])[::-1]
    for item in table["thresholds"]:
        if item["threshold"] is not None:
            assert item["precision"] >= item["lower_bound"] >= item["target"]
            thinned = threshold_for_precision(curve, item["target"], table["rows"], table["z"])
            # the thinned curve's threshold reaches the target too, keeping at most as many rows
            assert thinned["precision"] >= item["target"] and thinned["coverage"] <= item["coverage"]
    small = {"threshold": [0.9, 0.5], "coverage": [0.5, 1.0], "precision": [1.0, 0.5]}
    assert thin_curve(small) == small


def test_folds_are_bounded() -> None:
    """Cross-validation scores at most calibration_max_rows rows; above refit_max_rows one held-out share."""
    model = LinearModel()
    folds = model.calibration_folds(720)
    assert len(folds) == 5 and sorted(np.concatenate(folds).tolist()) == list(range(720))
    big = LinearModel(calibration_max_rows=3000).calibration_folds(10_000)
    assert [len(f) for f in big] == [2000, 1000] and len(np.unique(np.concatenate(big))) == 3000
    huge = LinearModel(refit_max_rows=1000, calibration_max_rows=300).calibration_folds(5000)
    assert [len(f) for f in huge] == [300]
    assert LinearModel(calibration_fraction=0).calibration_folds(720) == []
    assert LinearModel().calibration_folds(24) == []
