"""Evaluation metrics, metrics.json layout and the self-contained HTML report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from skutag.errors import ConfigError
from skutag.evaluation import evaluate_predictions
from skutag.evaluation.metrics import (
    hierarchical_prf,
    level_f1,
    most_confused,
    precision_coverage,
    reliability,
    threshold_for_precision,
    topk_accuracy,
    weighted_macro_f1,
)
from skutag.evaluation.report import render_report
from skutag.workflows.evaluate import write_evaluation

TRUE = pd.DataFrame({"level_1": ["A", "A", "B", "B"], "level_2": ["a1", "a2", "b1", "b1"]})
PRED = pd.DataFrame({"level_1": ["A", "B", "B", "B"], "level_2": ["a1", "b1", "b1", "b2"]})


def test_level_metrics_match_sklearn_and_mean() -> None:
    res = evaluate_predictions(TRUE, PRED)
    assert res.levels["level_1"]["accuracy"] == 0.75
    assert res.levels["level_2"]["accuracy"] == 0.5
    assert res.levels["level_2"]["f1_macro"] == pytest.approx(f1_score(TRUE.level_2, PRED.level_2, average="macro"))
    assert res.levels["level_1"]["f1_weighted"] == pytest.approx(
        f1_score(TRUE.level_1, PRED.level_1, average="weighted")
    )
    assert res.mean["accuracy"] == pytest.approx(0.625)
    assert res.path["accuracy"] == 0.5
    table = res.per_class["level_2"]
    assert table.set_index("class").loc["b1", "support"] == 2
    assert table.set_index("class").loc["b1", "precision"] == 0.5


def test_hierarchical_f1_gives_partial_credit() -> None:
    # true A>a2 predicted B>b1: 0 of 2 nodes; true B>b1 predicted B>b2: 1 of 2 nodes
    assert hierarchical_prf([("A", "a2")], [("B", "b1")])["f1"] == 0.0
    assert hierarchical_prf([("B", "b1")], [("B", "b2")])["f1"] == 0.5
    h = hierarchical_prf([("A", "a"), ("B",)], [("A", "a"), ("B", "b")])
    assert h["recall"] == 1.0 and h["precision"] == pytest.approx(3 / 4)


def test_confused_pairs_and_topk() -> None:
    assert most_confused(["x", "x", "y", "x"], ["y", "y", "y", "z"])[0] == {"true": "x", "predicted": "y", "count": 2}
    proba = pd.DataFrame([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]], columns=["a", "b", "c"])
    assert topk_accuracy(["b", "a"], proba, 1) == 0.0
    assert topk_accuracy(["b", "a"], proba, 2) == 0.5
    assert topk_accuracy(["b", "a"], proba, 3) == 1.0


def test_calibration_and_precision_coverage() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 20000)
    correct = rng.uniform(0, 1, 20000) < conf  # perfectly calibrated
    ece, bins = reliability(conf, correct)
    assert ece < 0.02 and sum(bins["count"]) == 20000
    ece_bad, _ = reliability(np.ones(100), np.zeros(100, dtype=bool))
    assert ece_bad == pytest.approx(1.0)

    conf = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 1, 0, 1], dtype=bool)
    curve = precision_coverage(conf, correct)
    assert curve["coverage"] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert curve["precision"] == pytest.approx([1, 1, 1, 0.75, 0.8])
    t = threshold_for_precision(curve, 0.95)
    assert t["threshold"] == 0.7 and t["coverage"] == 0.6
    assert threshold_for_precision(curve, 0.8)["coverage"] == 1.0
    assert threshold_for_precision(precision_coverage(conf, np.zeros(5, dtype=bool)), 0.9)["threshold"] is None


def test_metrics_json_and_report(tmp_path: Path) -> None:
    truth = TRUE.assign(level_2=["<script>alert(1)</script>", "a2", "b1", "b1"])
    proba = [
        pd.DataFrame([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]], columns=["A", "B"]),
        pd.DataFrame(np.full((4, 3), 1 / 3), columns=["a1", "b1", "b2"]),
    ]
    res = evaluate_predictions(truth, PRED, proba=proba, path_confidence=np.array([0.9, 0.6, 0.8, 0.3]))
    metrics_path, report_path = write_evaluation(res, tmp_path, context={"model": "m<1>"})
    metrics = json.loads(metrics_path.read_text())
    for level in ("level_1", "level_2"):
        assert {"accuracy", "f1_weighted", "f1_macro", "top3_accuracy", "ece"} <= set(metrics[level])
    assert set(metrics["mean"]) == {"accuracy", "f1_weighted", "f1_macro"}
    assert metrics["mean"]["f1_macro"] == pytest.approx(
        np.mean([metrics[lv]["f1_macro"] for lv in ("level_1", "level_2")])
    )
    assert [t["target"] for t in metrics["path"]["thresholds"]] == [0.95, 0.98]
    html = report_path.read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "m&lt;1&gt;" in html
    assert html.count("data:image/png;base64,") >= 3
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert (tmp_path / "per_class_level_2.csv").is_file()


def test_shape_mismatch() -> None:
    with pytest.raises(ConfigError):
        evaluate_predictions(TRUE, PRED.iloc[:2])


def test_level_f1_matches_sklearn() -> None:
    """The bincount F1 used in model selection gives scikit-learn's figures: unknown (-1) ids, classes only
    predicted or only true, one level or several."""
    rng = np.random.default_rng(0)
    for n, k in ((1, 3), (50, 4), (400, 60)):
        y = rng.integers(-1, k, size=(n, 2))
        pred = np.where(rng.random((n, 2)) < 0.6, y, rng.integers(0, k + 5, size=(n, 2)))
        got = level_f1(y, pred)
        for lv in range(2):
            w, m = weighted_macro_f1(y[:, lv], pred[:, lv])
            assert w == pytest.approx(f1_score(y[:, lv], pred[:, lv], average="weighted", zero_division=0))
            assert m == pytest.approx(f1_score(y[:, lv], pred[:, lv], average="macro", zero_division=0))
        want = np.mean([f1_score(y[:, lv], pred[:, lv], average="weighted", zero_division=0) for lv in range(2)])
        assert got["f1_weighted"] == pytest.approx(want)
    assert weighted_macro_f1(np.zeros(0), np.zeros(0)) == (0.0, 0.0)


def test_report_per_class_header_agrees_with_n_classes() -> None:
    """The per-class table lists predicted-only classes too (their false positives); its header counts the
    classes of the data as n_classes does, and names the predicted-only ones apart."""
    truth = pd.DataFrame({"level_1": ["A", "A", "B", "B", "B"]})
    pred = pd.DataFrame({"level_1": ["A", "C", "B", "D", "B"]})
    res = evaluate_predictions(truth, pred)
    assert res.levels["level_1"]["n_classes"] == 2 and len(res.per_class["level_1"]) == 4
    html = render_report(res)
    assert "level_1: per class (2 classes in the data, 2 more only predicted)</summary>" in html
    same = evaluate_predictions(truth, truth)
    assert "level_1: per class (2 classes in the data)</summary>" in render_report(same)
