"""What every workflow that fits a category model does around the fit, in one place: progress lines, the
validation score, and the model card (``meta.json``) with its calibration table, then the save. ``skutag train``,
``skutag distill`` and ``skutag train --labels-from`` write the same card entries this way, so a server or
``skutag evaluate`` reads any of them alike."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.labelled import data_hash, load_labelled
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ColumnSpec
from skutag.evaluation.metrics import EvaluationResult, calibration_table
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.models.card import library_versions
from skutag.workflows.evaluate import evaluate_scored

log = get_logger(__name__)

Progress = Callable[[str], None]
DataArg = str | Path | Sequence[str | Path]


class StderrProgress:
    """The default progress of the fitting workflows: one line per step on stderr, with the seconds since the
    start, so that a long fit is never silent."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"skutag [{time.perf_counter() - self.start:6.1f} s] {message}", file=sys.stderr, flush=True)


def as_progress(progress: Progress | bool | None) -> Progress | None:
    """``True``: lines on stderr; ``False`` / ``None``: quiet; a callable gets the messages (the CLI's spinner)."""
    if progress is True:
        return StderrProgress()
    if progress is False or progress is None:
        return None
    return progress


def as_paths(data: DataArg) -> list[str | Path]:
    return [data] if isinstance(data, str | Path) else list(data)


def jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is None or isinstance(v, str | int | float | bool | dict | list)}


@dataclass
class ValidationScore:
    """A model scored on labelled validation files: the evaluation, each row's (confidence, correct) for the
    calibration table, and how many rows were rejected on reading."""

    result: EvaluationResult
    scored: tuple[np.ndarray, np.ndarray]
    rows_rejected: int


def score_validation(
    model: CategoryModel,
    valid: DataArg,
    spec: ColumnSpec,
    sink: RejectSink,
    progress: Progress | None,
) -> ValidationScore:
    """Read ``valid`` with the training data's columns (rejects to ``sink``) and score ``model`` on it."""
    if progress is not None:
        progress("evaluating on validation data")
    before = sink.count
    vd = load_labelled(
        valid, text=spec.text, label=spec.label, label_sep=spec.label_sep, levels=spec.levels, rejects=sink
    )
    result, scored = evaluate_scored(model, vd.texts, vd.labels)
    return ValidationScore(result, scored, sink.count - before)


def base_card(
    kind: str,
    model: CategoryModel,
    *,
    spec: ColumnSpec,
    data: DataArg,
    labels: pd.DataFrame,
    rows_used: int,
    rows_rejected: int,
    seconds: float,
) -> dict[str, Any]:
    """The card entries every fitted category model has: what it is, what it read, what it learnt."""
    paths = as_paths(data)
    return {
        "model": kind,
        "params": jsonable_params(model.get_params()),
        "text_columns": list(spec.text),
        "label_columns": list(spec.label),
        "label_sep": spec.label_sep,
        "label_levels": spec.levels,
        "data": [str(p) for p in paths],
        "data_sha256": data_hash(paths),
        "rows_used": rows_used,
        "rows_rejected": rows_rejected,
        "label_set": {
            f"level_{i + 1}": sorted({str(v) for v in labels.iloc[:, i].dropna()}) for i in range(labels.shape[1])
        },
        "train_seconds": round(seconds, 3),
        "versions": library_versions(),
    }


def metrics_card(result: EvaluationResult) -> dict[str, Any]:
    """An evaluation as the card keeps it: the headline figures per level and their mean."""
    return {**{k: short_level(v) for k, v in result.levels.items()}, "mean": result.mean}


def short_level(level: dict[str, Any]) -> dict[str, Any]:
    return {k: level[k] for k in ("accuracy", "f1_weighted", "f1_macro", "top3_accuracy", "ece") if k in level}


def add_validation(
    meta: dict[str, Any],
    model: CategoryModel,
    valid: DataArg | None,
    score: ValidationScore | None,
) -> None:
    """The card's ``validation`` (when scored) and ``calibration`` entries, in ``meta``."""
    paths = as_paths(valid) if valid is not None else []
    if score is not None:
        meta["validation"] = {
            "data": [str(p) for p in paths],
            "rows_rejected": score.rows_rejected,
            "metrics": metrics_card(score.result),
        }
    meta["calibration"] = calibration_card(model, score.scored if score is not None else None, paths)


def save_with_card(
    model: CategoryModel, meta: dict[str, Any], out: str | Path | None, progress: Progress | None, done: str
) -> Path | None:
    """Attach ``meta`` as the model's card and save it to ``out`` (when given); ``done`` opens the last progress
    line (``trained in 12.3 s``)."""
    model.card_ = meta
    model_dir = None
    if out is not None:
        if progress is not None:
            progress("saving")
        model_dir = model.save(out)
    if progress is not None:
        progress(f"done: {done}" + (f", saved to {model_dir}" if model_dir else ""))
    return model_dir


def calibration_card(
    model: CategoryModel, scored: tuple[np.ndarray, np.ndarray] | None, valid: list[str | Path]
) -> dict[str, Any]:
    """The card's calibration: the precision-coverage table the server takes its auto-accept threshold from, made of
    the validation rows when given, else of the training rows the model scored out of fold (cross-validation or its
    own held-out split); without either the model is marked uncalibrated (served, it auto-accepts nothing)."""
    if scored is not None:
        table = calibration_table(*scored)
        return {
            "source": "validation",
            "description": f"validation file ({table['rows']:,} rows)",
            "data": [str(p) for p in valid],
            **table,
        }
    held = model.heldout_
    if held is not None and len(held.confidence):
        return {
            "source": "cross-validation" if held.folds > 1 else "held-out",
            "description": held.describe(),
            "folds": held.folds,
            "training_rows": held.n_rows,
            **calibration_table(held.confidence, held.correct),
        }
    reason = f"no validation file, and the {model.kind!r} fit scored no training rows out of fold"
    log.warning("model not calibrated (%s): served, it auto-accepts nothing", reason)
    return {"source": None, "description": f"not calibrated: {reason}"}
