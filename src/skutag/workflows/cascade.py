"""``skutag cascade FAST SLOW --out DIR``: two fitted category models joined into one directory (kind ``cascade``)
where the fast model answers the products it is sure of and the slow one the rest
(:class:`~skutag.models.cascade.CascadeModel`).

The threshold is given, or chosen on labelled tuning rows: the lowest one (the fewest rows deferred) at which the
cascade's weighted F1 (mean over levels) is within ``tolerance`` of the slow model's on those rows. The card keeps
the curve it was chosen from (threshold, share deferred, weighted / macro F1), the tuning rows' figures and a
calibration table of the cascade's own confidences on them, so the server's auto-accept threshold is the cascade's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.labelled import data_hash, load_labelled
from skutag.catalogue.rejects import RejectSink
from skutag.errors import ConfigError
from skutag.evaluation.metrics import level_f1
from skutag.log import get_logger
from skutag.models.card import library_versions
from skutag.models.cascade import DEFAULT_THRESHOLD, CascadeModel
from skutag.models.registry import load_model
from skutag.workflows.evaluate import evaluate_scored
from skutag.workflows.model_card import (
    DataArg,
    Progress,
    as_paths,
    as_progress,
    calibration_card,
    metrics_card,
    save_with_card,
)

log = get_logger(__name__)

#: weighted F1 (mean over levels) the cascade may lose against the slow model on the tuning rows
DEFAULT_TOLERANCE = 0.005
#: thresholds tried when tuning, besides each 0.05 step: the fast model's confidences at these shares of rows
QUANTILES = np.linspace(0.0, 1.0, 101)


@dataclass
class CascadeResult:
    model: CascadeModel
    model_dir: Path | None
    threshold: float
    #: how the threshold was set: "given", "default" or "tuned"
    threshold_source: str
    #: on the tuning rows (None without them): share deferred, and each model's and the cascade's figures
    tuning: dict[str, Any] | None = None
    rows_rejected: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)


def _level_ids(truth: pd.DataFrame, *predictions: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
    """``truth`` and each list of predicted paths as rows x levels class ids (one vocabulary per level, missing
    levels as ''), for :func:`~skutag.evaluation.metrics.level_f1`."""
    n = truth.shape[1]
    rows = [[("" if v is None or v != v else str(v)) for v in r] for r in truth.itertuples(index=False, name=None)]
    tables = [rows] + [[list(p[:n]) + [""] * (n - len(p[:n])) for p in paths] for paths in predictions]
    vocab: list[dict[str, int]] = [{} for _ in range(n)]
    out = []
    for table in tables:
        ids = np.array([[vocab[lv].setdefault(r[lv], len(vocab[lv])) for lv in range(n)] for r in table], np.int64)
        out.append(ids.reshape(len(table), n))
    return out


def threshold_curve(
    conf: np.ndarray,
    fast_paths: list[tuple[str, ...]],
    slow_paths: list[tuple[str, ...]],
    truth: pd.DataFrame,
) -> list[dict[str, float]]:
    """The cascade's weighted / macro F1 (mean over levels) at each candidate threshold, lowest first: rows with
    ``conf`` under it take the slow path. Candidates: 0, each 0.05 step, and the confidences at each percentile of
    rows."""
    y, fast, slow = _level_ids(truth, fast_paths, slow_paths)
    candidates = np.unique(np.round(np.concatenate([np.arange(0.0, 1.0001, 0.05), np.quantile(conf, QUANTILES)]), 4))
    out = []
    for t in candidates:
        defer = conf < t
        scores = level_f1(y, np.where(defer[:, None], slow, fast))
        out.append(
            {
                "threshold": float(t),
                "deferred": float(defer.mean()),
                "f1_weighted": scores["f1_weighted"],
                "f1_macro": scores["f1_macro"],
            }
        )
    return out


def _f1(truth: pd.DataFrame, paths: Sequence[tuple[str, ...]]) -> dict[str, float]:
    y, pred = _level_ids(truth, paths)
    scores = level_f1(y, pred)
    return {"f1_weighted": scores["f1_weighted"], "f1_macro": scores["f1_macro"]}


def choose_threshold(curve: list[dict[str, float]], slow_f1: float, tolerance: float) -> dict[str, float]:
    """The point of ``curve`` deferring the fewest rows whose weighted F1 is within ``tolerance`` of ``slow_f1``
    (none: the best weighted F1)."""
    ok = [p for p in curve if p["f1_weighted"] >= slow_f1 - tolerance]
    if ok:
        return min(ok, key=lambda p: (p["deferred"], p["threshold"]))
    return max(curve, key=lambda p: (p["f1_weighted"], -p["deferred"]))


def build_cascade(
    fast: str | Path,
    slow: str | Path,
    out: str | Path | None,
    *,
    threshold: float | None = None,
    tune: DataArg | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    label: Sequence[str] = (),
    label_sep: str | None = None,
    rejects: str | Path | None = None,
    progress: Progress | bool | None = None,
) -> CascadeResult:
    """Join the fitted models at ``fast`` and ``slow`` (any kinds that score paths, of the same levels) and save
    the cascade to ``out``. ``threshold`` given: used as it is; else with ``tune`` (labelled files, read with the
    fast model's card's label columns unless ``label``/``label_sep`` say otherwise) the threshold is chosen there
    (:func:`choose_threshold`); else :data:`~skutag.models.cascade.DEFAULT_THRESHOLD`. Rejected tuning rows go
    to ``rejects`` (default ``OUT.rejects.jsonl``)."""
    say = as_progress(progress)
    if not 0.0 <= tolerance <= 1.0:
        raise ConfigError(f"tolerance is a share of F1 in [0, 1], not {tolerance}")
    t0 = time.perf_counter()
    if say is not None:
        say(f"loading {fast} and {slow}")
    fast_model, slow_model = load_model(fast), load_model(slow)
    model = CascadeModel.from_members(
        fast_model, slow_model, threshold=DEFAULT_THRESHOLD if threshold is None else threshold
    )
    card = dict(getattr(fast_model, "card_", {}) or {})
    source = "given" if threshold is not None else "default"
    tuning = None
    curve: list[dict[str, float]] = []
    rejected = 0
    scored = None
    if tune is not None:
        sink_path = Path(rejects) if rejects else Path(f"{out or 'cascade'}.rejects.jsonl")
        with RejectSink(sink_path) as sink:
            ld = load_labelled(
                tune,
                text=model.text_columns_,
                label=tuple(label) or tuple(card.get("label_columns") or ()),
                label_sep=label_sep if label_sep is not None else card.get("label_sep"),
                levels=len(model.levels_),
                rejects=sink,
            )
            rejected = sink.count
        texts = ld.texts.copy()
        texts.columns = model.text_columns_
        truth = ld.labels.copy()
        truth.columns = model.levels_[: truth.shape[1]]
        if say is not None:
            say(f"tuning the threshold on {len(texts):,} labelled rows: the fast model")
        top = fast_model.predict_topk(texts, k=1)
        conf = np.asarray(top.scores, dtype=float)[:, 0]
        fast_paths = [p[0] for p in top.paths]
        if say is not None:
            say(f"tuning the threshold on {len(texts):,} labelled rows: the slow model")
        slow_paths = [p[0] for p in slow_model.predict_topk(texts, k=1).paths]
        curve = threshold_curve(conf, fast_paths, slow_paths, truth)
        fast_f1, slow_f1 = _f1(truth, fast_paths), _f1(truth, slow_paths)
        if threshold is None:
            model.threshold = choose_threshold(curve, slow_f1["f1_weighted"], tolerance)["threshold"]
            source = "tuned"
        result, scored = evaluate_scored(model, texts, ld.labels)
        tuning = {
            "data": [str(p) for p in as_paths(tune)],
            "data_sha256": data_hash(as_paths(tune)),
            "rows": len(texts),
            "rows_rejected": rejected,
            "tolerance": tolerance,
            "deferred": float((conf < model.threshold).mean()),
            "fast": fast_f1,
            "slow": slow_f1,
            "cascade": metrics_card(result),
            "note": "the threshold was chosen on these rows, so the cascade's figures on them are optimistic"
            if source == "tuned"
            else "the threshold was given; these rows only measured it",
        }
    meta = _card(card, model, fast, slow, source, tuning, curve, time.perf_counter() - t0)
    tune_paths = as_paths(tune) if tune is not None else []
    meta["calibration"] = calibration_card(model, scored, tune_paths)  # without --tune: uncalibrated, with the reason
    model_dir = save_with_card(model, meta, out, say, f"threshold {model.threshold:.3f} ({source})")
    return CascadeResult(model, model_dir, float(model.threshold), source, tuning, rejected, curve)


def _card(
    fast_card: dict[str, Any],
    model: CascadeModel,
    fast: str | Path,
    slow: str | Path,
    source: str,
    tuning: dict[str, Any] | None,
    curve: list[dict[str, float]],
    seconds: float,
) -> dict[str, Any]:
    """The cascade's card: the label columns of the fast model's card (what ``skutag evaluate`` reads), its members
    and how its threshold was set."""
    keep = ("label_columns", "label_sep", "label_levels", "label_set")
    return {
        "model": "cascade",
        "params": {"threshold": float(model.threshold)},
        **{k: fast_card[k] for k in keep if k in fast_card},
        "text_columns": list(model.text_columns_),
        "cascade": {
            "fast": {"directory": str(fast), "kind": model.fast_.kind},
            "slow": {"directory": str(slow), "kind": model.slow_.kind},
            "threshold": float(model.threshold),
            "threshold_source": source,
            "rule": "rows the fast model gives a top path probability under the threshold are answered by the slow one",
            "tuning": tuning,
            # every 5th point is plenty to redraw the curve; the chosen one is in tuning
            "curve": curve[::5],
        },
        "train_seconds": round(seconds, 3),
        "versions": library_versions(),
    }
