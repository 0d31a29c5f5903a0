"""Metrics for hierarchical categorisation: per level, hierarchical, calibration, precision-coverage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from skutag.errors import ConfigError

#: Precision targets for which the confidence threshold and the coverage left are reported.
PRECISION_TARGETS = (0.95, 0.98)
#: Targets whose exact thresholds a model card stores (any other target is read off the card's thinned curve).
CARD_TARGETS = (0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995)
#: Most points of the precision-coverage curve a model card keeps.
CARD_CURVE_POINTS = 200
#: A card's threshold must reach its target precision with 95% one-sided confidence (Wilson lower bound).
CARD_CONFIDENCE_Z = 1.645
TOPK = (3, 5)
ECE_BINS = 15


@dataclass
class EvaluationResult:
    """Everything an evaluation computes. :meth:`metrics_json` is what goes into metrics.json."""

    n_rows: int
    levels: dict[str, dict[str, Any]]
    mean: dict[str, float]
    hierarchical: dict[str, float]
    path: dict[str, Any]
    per_class: dict[str, pd.DataFrame] = field(default_factory=dict)
    confused: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reliability: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    coverage_curve: dict[str, list[float]] = field(default_factory=dict)

    def metrics_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: dict(vals) for name, vals in self.levels.items()}
        out["mean"] = dict(self.mean)
        out["hierarchical"] = dict(self.hierarchical)
        out["path"] = dict(self.path)
        out["n_rows"] = self.n_rows
        for name in self.levels:
            out[name]["most_confused"] = self.confused.get(name, [])[:20]
        return out


def _labels(values: Sequence[object]) -> np.ndarray:
    return np.array(["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values], dtype=object)


def level_metrics(y_true: Sequence[object], y_pred: Sequence[object]) -> dict[str, float]:
    """accuracy, weighted F1 and macro F1 (over the true classes and the predicted ones)."""
    t, p = _labels(y_true), _labels(y_pred)
    return {
        "accuracy": float(accuracy_score(t, p)),
        "f1_weighted": float(f1_score(t, p, average="weighted", zero_division=0)),
        "f1_macro": float(f1_score(t, p, average="macro", zero_division=0)),
    }


def weighted_macro_f1(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """Weighted and macro F1 of integer class ids (any ids >= -1) over the classes present in ``y`` or ``pred``:
    the same figures as scikit-learn's ``f1_score(..., zero_division=0)``, from three bincounts (model selection
    scores thousands of candidate blends; sklearn's per-call overhead made that loop minutes long)."""
    t = np.asarray(y, dtype=np.int64).ravel() + 1
    p = np.asarray(pred, dtype=np.int64).ravel() + 1
    if len(t) == 0:
        return 0.0, 0.0
    n = int(max(t.max(), p.max())) + 1
    support = np.bincount(t, minlength=n)
    predicted = np.bincount(p, minlength=n)
    hits = np.bincount(t[t == p], minlength=n)
    present = (support + predicted) > 0
    f1 = 2.0 * hits[present] / (support + predicted)[present]
    return float((f1 * support[present]).sum() / len(t)), float(f1.mean())


def level_f1(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Mean over levels of weighted and macro F1, and their average as ``score``."""
    per_level = [weighted_macro_f1(y[:, lv], pred[:, lv]) for lv in range(y.shape[1])]
    w = [wm[0] for wm in per_level]
    m = [wm[1] for wm in per_level]
    return {"f1_weighted": float(np.mean(w)), "f1_macro": float(np.mean(m)), "score": float(np.mean(w + m))}


def per_class_table(y_true: Sequence[object], y_pred: Sequence[object]) -> pd.DataFrame:
    """precision, recall, f1 and support per true-or-predicted class, by support descending."""
    t, p = _labels(y_true), _labels(y_pred)
    classes = sorted(set(t) | set(p))
    prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=classes, zero_division=0)
    table = pd.DataFrame({"class": classes, "precision": prec, "recall": rec, "f1": f1, "support": sup})
    return table.sort_values(["support", "class"], ascending=[False, True]).reset_index(drop=True)


def most_confused(y_true: Sequence[object], y_pred: Sequence[object], n: int = 20) -> list[dict[str, Any]]:
    """The ``n`` most frequent (true, predicted) pairs among errors."""
    t, p = _labels(y_true), _labels(y_pred)
    pairs = Counter((a, b) for a, b in zip(t, p, strict=True) if a != b)
    return [{"true": a, "predicted": b, "count": c} for (a, b), c in pairs.most_common(n)]


def topk_accuracy(y_true: Sequence[object], proba: pd.DataFrame, k: int) -> float:
    """Share of rows whose true class is among the ``k`` most probable columns of ``proba``."""
    t = _labels(y_true)
    if len(t) == 0:
        return float("nan")
    values = proba.to_numpy()
    k = min(k, values.shape[1])
    top = np.argpartition(-values, k - 1, axis=1)[:, :k] if k < values.shape[1] else None
    cols = np.asarray(proba.columns, dtype=object)
    hits = 0
    for i, label in enumerate(t):
        candidates = cols if top is None else cols[top[i]]
        hits += label in set(candidates)
    return hits / len(t)


def reliability(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> tuple[float, dict[str, list[float]]]:
    """Expected calibration error and the reliability-diagram bins (mean confidence, accuracy, count)."""
    confidence = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    conf_mean, acc, count = [], [], []
    ece = 0.0
    for b in range(bins):
        m = which == b
        n = int(m.sum())
        count.append(n)
        if n:
            c, a = float(confidence[m].mean()), float(correct[m].mean())
            ece += n / max(1, len(confidence)) * abs(c - a)
        else:
            c, a = float("nan"), float("nan")
        conf_mean.append(c)
        acc.append(a)
    return float(ece), {"confidence": conf_mean, "accuracy": acc, "count": [float(c) for c in count]}


def precision_coverage(confidence: np.ndarray, correct: np.ndarray) -> dict[str, list[float]]:
    """Precision of the rows kept when keeping those with confidence >= each threshold (most confident first)."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if len(confidence) == 0:
        return {"threshold": [], "coverage": [], "precision": []}
    order = np.argsort(-confidence, kind="stable")
    conf_sorted = confidence[order]
    prec = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    # keep the last position of each distinct threshold (ties are all kept or all dropped)
    last = np.r_[conf_sorted[1:] != conf_sorted[:-1], True]
    return {
        "threshold": conf_sorted[last].tolist(),
        "coverage": ((np.flatnonzero(last) + 1) / len(order)).tolist(),
        "precision": prec[last].tolist(),
    }


def threshold_for_precision(
    curve: dict[str, list[float]], target: float, rows: int | None = None, z: float = 0.0
) -> dict[str, float | None]:
    """The lowest confidence threshold whose kept rows reach ``target`` precision, and the coverage left.

    With ``rows`` (the rows behind ``curve``) and ``z`` > 0, the kept rows' precision must reach ``target`` with
    confidence: its Wilson lower bound at ``z`` standard errors (``lower_bound`` in the answer). The plain rule picks
    the threshold where the running precision happens to be highest for its coverage, so unseen rows fall short of
    the target about half the time; the bound leaves a margin that shrinks as the rows grow."""
    best: dict[str, float | None] = {"target": target, "threshold": None, "coverage": 0.0, "precision": None}
    bounded = rows is not None and z > 0
    n_rows = float(rows or 0)
    if bounded:
        best["lower_bound"] = None
    for t, c, p in zip(curve["threshold"], curve["coverage"], curve["precision"], strict=True):
        lb = wilson_lower_bound(p, c * n_rows, z) if bounded else p
        if lb >= target and c >= (best["coverage"] or 0.0):
            best = {"target": target, "threshold": t, "coverage": c, "precision": p}
            if bounded:
                best["lower_bound"] = lb
    return best


def wilson_lower_bound(p: float, n: float, z: float) -> float:
    """Wilson score lower bound of a proportion ``p`` observed on ``n`` rows, ``z`` standard errors down."""
    if n <= 0:
        return 0.0
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * np.sqrt(max(p * (1 - p), 0.0) / n + z2 / (4 * n * n))
    return float((centre - spread) / (1 + z2 / n))


def thin_curve(curve: dict[str, list[float]], points: int = CARD_CURVE_POINTS) -> dict[str, list[float]]:
    """At most ``points`` points of a precision-coverage curve, evenly spread over its coverage, the last (every row
    kept) included. Each kept point keeps its exact precision, so a threshold read off the thinned curve reaches
    its target just as one read off the whole curve (it may keep fewer rows)."""
    n = len(curve["threshold"])
    if n <= points:
        return {k: list(v) for k, v in curve.items()}
    cov = np.asarray(curve["coverage"])
    idx = np.unique(np.r_[np.searchsorted(cov, np.linspace(0.0, 1.0, points)[1:], side="left").clip(0, n - 1), n - 1])
    return {k: [v[i] for i in idx] for k, v in curve.items()}


def calibration_table(
    confidence: np.ndarray, correct: np.ndarray, targets: Sequence[float] = CARD_TARGETS, z: float = CARD_CONFIDENCE_Z
) -> dict[str, Any]:
    """What a model card keeps of scored held-out rows (confidence of the best path, whether it was right) to set
    auto-accept thresholds later: row count, accuracy, ECE, the threshold for each of ``targets`` (reached with
    confidence ``z``: :func:`threshold_for_precision`) and the thinned precision-coverage curve for any other
    target."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    curve = precision_coverage(confidence, correct)
    rows = len(confidence)
    return {
        "rows": rows,
        "accuracy": float(correct.mean()) if rows else None,
        "ece": reliability(confidence, correct)[0] if rows else None,
        "z": z,
        "thresholds": [threshold_for_precision(curve, t, rows, z) for t in targets],
        "curve": thin_curve(curve),
    }


def hierarchical_prf(
    true_paths: Sequence[Sequence[object]], pred_paths: Sequence[Sequence[object]]
) -> dict[str, float]:
    """Hierarchical precision/recall/F1 (Kiritchenko et al.): overlap of the ancestor-inclusive node sets."""
    inter = n_pred = n_true = 0
    for t, p in zip(true_paths, pred_paths, strict=True):
        ts = {tuple(t[: i + 1]) for i in range(len(t))}
        ps = {tuple(p[: i + 1]) for i in range(len(p))}
        inter += len(ts & ps)
        n_pred += len(ps)
        n_true += len(ts)
    hp = inter / n_pred if n_pred else 0.0
    hr = inter / n_true if n_true else 0.0
    hf = 2 * hp * hr / (hp + hr) if hp + hr else 0.0
    return {"precision": hp, "recall": hr, "f1": hf}


def _path(row: Sequence[object]) -> tuple[str, ...]:
    out = []
    for v in row:
        if v is None or (isinstance(v, float) and v != v) or str(v) == "":
            break
        out.append(str(v))
    return tuple(out)


def evaluate_predictions(
    y_true: pd.DataFrame,
    y_pred: pd.DataFrame,
    proba: Sequence[pd.DataFrame] | None = None,
    path_confidence: np.ndarray | None = None,
    targets: Sequence[float] = PRECISION_TARGETS,
) -> EvaluationResult:
    """Compare label frames (level_1..level_n, same rows). ``proba`` (per level) enables top-k and per-level
    calibration; ``path_confidence`` (probability of each predicted path) the precision-coverage analysis."""
    if len(y_true) != len(y_pred):
        raise ConfigError(f"{len(y_true)} true rows but {len(y_pred)} predictions")
    n_levels = min(y_true.shape[1], y_pred.shape[1])
    if n_levels == 0:
        raise ConfigError("no label levels to evaluate")
    levels: dict[str, dict[str, Any]] = {}
    per_class: dict[str, pd.DataFrame] = {}
    confused: dict[str, list[dict[str, Any]]] = {}
    rel: dict[str, dict[str, list[float]]] = {}
    for lv in range(n_levels):
        name = f"level_{lv + 1}"
        t, p = y_true.iloc[:, lv].tolist(), y_pred.iloc[:, lv].tolist()
        m: dict[str, Any] = {**level_metrics(t, p), "n_classes": len(set(_labels(t))), "support": len(t)}
        if proba is not None and lv < len(proba):
            for k in TOPK:
                m[f"top{k}_accuracy"] = topk_accuracy(t, proba[lv], k)
            conf = proba[lv].to_numpy().max(axis=1) if len(t) else np.zeros(0)
            ece, rel[name] = reliability(conf, _labels(t) == _labels(p))
            m["ece"] = ece
        levels[name] = m
        per_class[name] = per_class_table(t, p)
        confused[name] = most_confused(t, p)
    mean = {key: float(np.mean([levels[n][key] for n in levels])) for key in ("accuracy", "f1_weighted", "f1_macro")}
    true_paths = [_path(r) for r in y_true.iloc[:, :n_levels].itertuples(index=False, name=None)]
    pred_paths = [_path(r) for r in y_pred.iloc[:, :n_levels].itertuples(index=False, name=None)]
    correct = np.array([a == b for a, b in zip(true_paths, pred_paths, strict=True)], dtype=bool)
    path: dict[str, Any] = {"accuracy": float(correct.mean()) if len(correct) else float("nan")}
    curve: dict[str, list[float]] = {}
    if path_confidence is not None:
        conf = np.asarray(path_confidence, dtype=float)
        ece, rel["path"] = reliability(conf, correct)
        path["ece"] = ece
        curve = precision_coverage(conf, correct)
        path["thresholds"] = [threshold_for_precision(curve, t) for t in targets]
    return EvaluationResult(
        n_rows=len(y_true),
        levels=levels,
        mean=mean,
        hierarchical=hierarchical_prf(true_paths, pred_paths),
        path=path,
        per_class=per_class,
        confused=confused,
        reliability=rel,
        coverage_curve=curve,
    )
