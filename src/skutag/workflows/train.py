"""Train a model from catalogue files, evaluate it on validation data, and save it with its model card."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skutag.catalogue.columns import deepest_level_warning
from skutag.catalogue.labelled import data_hash, load_labelled
from skutag.catalogue.rejects import RejectSink
from skutag.errors import ConfigError
from skutag.evaluation.metrics import EvaluationResult, calibration_table
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.models.card import library_versions
from skutag.models.registry import create_model
from skutag.workflows.evaluate import evaluate_scored

if TYPE_CHECKING:
    from skutag.trainer.runner import LoopRunner

log = get_logger(__name__)


@dataclass
class TrainResult:
    """The fitted model, where it was saved, its card (meta.json) and the validation evaluation."""

    model: CategoryModel
    model_dir: Path | None
    meta: dict[str, Any]
    validation: EvaluationResult | None
    rows_used: int
    rows_rejected: int
    train_seconds: float
    #: What the user should know about the training labels (e.g. a deepest level unique per row).
    warnings: list[str] = field(default_factory=list)


#: The model card's word on tuning rows (``--tune``).
TUNING_NOTE = (
    "tuned on these rows, then trained on them too: they are training rows of this model, and figures on them (or on "
    "a validation file holding them) are not an unbiased estimate; the honest score is `skutag evaluate` on other rows"
)


def _shared_files(a: str | Path | Sequence[str | Path], b: str | Path | Sequence[str | Path] | None) -> list[str]:
    """Files named in both ``a`` and ``b`` (resolved paths)."""
    if b is None:
        return []
    second = {Path(p).resolve() for p in _paths(b)}
    return [str(p) for p in _paths(a) if Path(p).resolve() in second]


def _paths(data: str | Path | Sequence[str | Path]) -> list[str | Path]:
    return [data] if isinstance(data, str | Path) else list(data)


def train_model(
    data: str | Path | Sequence[str | Path],
    *,
    text: Sequence[str] = (),
    label: Sequence[str] = (),
    label_sep: str | None = None,
    levels: int | None = None,
    model: str = "linear",
    params: dict[str, Any] | None = None,
    out: str | Path | None = None,
    valid: str | Path | Sequence[str | Path] | None = None,
    tune: str | Path | Sequence[str | Path] | None = None,
    rejects: str | Path | RejectSink | None = None,
    progress: Callable[[str], None] | bool | None = True,
    loop_runner: LoopRunner | None = None,
) -> TrainResult:
    """Read and concatenate ``data``, fit a ``model`` (a registry name), evaluate on ``valid``, save to ``out``.

    ``text`` empty auto-detects the title (and description) column; ``levels`` keeps the first levels of
    the labels only. Rows without text or a level-1 label, or with an empty level before a filled one, are
    rejected (to ``rejects``: a path or a :class:`RejectSink`); a path that stops early (empty last levels) is
    kept. Rows in = rows used + rows rejected.

    ``tune``: labelled rows a kind that tunes then trains (``tunes_then_trains``: the ensemble) tunes on instead of a
    held-out share of ``data`` (blend weights) and then also trains on (its ``refit`` members are refitted on
    training + tuning rows); the card's ``tuning`` entry says so. They are then training rows: figures on them are
    optimistic, so ``valid`` should be other rows (a warning says so when it shares a file with ``tune``).

    ``progress``: what is being done, step by step (reading, each fitting step, evaluating, saving), as
    timestamped lines on stderr by default, so that a long fit is never silent; a callable gets the messages
    instead (the CLI shows them in a spinner), ``False`` keeps quiet.

    ``loop_runner``: run the fine-tuning loop there (``skutag train --ray``: data-parallel on a Ray cluster); the
    steps before and after it, and the directory written, are those of a local run, plus the card's ``distributed``
    entry (the runner's ``card``).
    """
    if progress is True:
        progress = StderrProgress()
    elif progress is False:
        progress = None
    sink = rejects if isinstance(rejects, RejectSink) else RejectSink(rejects)
    try:
        before = sink.count
        if progress is not None:
            progress("reading training data")
        train = load_labelled(data, text=text, label=label, label_sep=label_sep, levels=levels, rejects=sink)
        train_rejected = sink.count - before  # unreadable records + rows without text or label
        spec = train.spec
        texts = train.texts
        warnings = list(train.warnings)
        deepest = deepest_level_warning(train.labels)
        if deepest is not None:
            log.warning("%s", deepest)
            warnings.append(deepest)
        est = create_model(model, **(params or {}))
        if loop_runner is not None:
            if not est.trains_distributed:
                raise ConfigError(f"distributed training is for --model transformer, not {model!r}")
            est.loop_runner = loop_runner
        tuning = None
        tune_rejected = 0
        if tune is not None:
            if not est.tunes_then_trains:
                raise ConfigError(f"--tune is for the ensemble (tuned, then refitted on the rows); not {model!r}")
            if progress is not None:
                progress("reading tuning data")
            before = sink.count
            tuning = load_labelled(
                tune, text=spec.text, label=spec.label, label_sep=spec.label_sep, levels=spec.levels, rejects=sink
            )
            tune_rejected = sink.count - before
            shared = _shared_files(tune, valid)
            if shared:
                note = (
                    f"{', '.join(shared)} is both the tuning and the validation file: the model was tuned and trained "
                    "on its rows, so the validation figures and the calibration are optimistic; score another file "
                    "with `skutag evaluate`"
                )
                log.warning("%s", note)
                warnings.append(note)
        if progress is not None:
            est.progress = progress
            tuned = f", tuned on {len(tuning.texts):,} more" if tuning is not None else ""
            progress(f"training {model} on {len(texts):,} rows ({train_rejected:,} rejected){tuned}")
        t0 = time.perf_counter()
        if tuning is not None:
            est.fit(texts, train.labels, valid=(tuning.texts, tuning.labels))  # type: ignore[call-arg]
        else:
            est.fit(texts, train.labels)
        seconds = time.perf_counter() - t0
        log.info("trained %s on %d rows in %.1f s", model, len(texts), seconds)
        validation = None
        scored: tuple[np.ndarray, np.ndarray] | None = None
        valid_rejected = 0
        if valid is not None:
            if progress is not None:
                progress("evaluating on validation data")
            before = sink.count
            vd = load_labelled(
                valid, text=spec.text, label=spec.label, label_sep=spec.label_sep, levels=spec.levels, rejects=sink
            )
            valid_rejected = sink.count - before
            validation, scored = evaluate_scored(est, vd.texts, vd.labels)
    finally:
        if not isinstance(rejects, RejectSink):
            sink.close()
    paths = _paths(data)
    meta: dict[str, Any] = {
        "model": model,
        "params": _jsonable_params(est.get_params()),
        "text_columns": list(spec.text),
        "label_columns": list(spec.label),
        "label_sep": spec.label_sep,
        "label_levels": spec.levels,
        "data": [str(p) for p in paths],
        "data_sha256": data_hash(paths),
        "rows_used": len(texts),
        "rows_rejected": train_rejected,
        "label_set": {
            f"level_{i + 1}": sorted({str(v) for v in train.labels.iloc[:, i].dropna()})
            for i in range(train.labels.shape[1])
        },
        "train_seconds": round(seconds, 3),
        "versions": library_versions(),
    }
    if warnings:
        meta["warnings"] = warnings
    if loop_runner is not None:
        meta["distributed"] = dict(loop_runner.card)
    if tuning is not None and tune is not None:
        meta["tuning"] = {
            "data": [str(p) for p in _paths(tune)],
            "rows_rejected": tune_rejected,
            **(est.tuning_ or {}),
            "note": TUNING_NOTE,
        }
    if validation is not None:
        meta["validation"] = {
            "data": [str(p) for p in _paths(valid)] if valid is not None else [],
            "rows_rejected": valid_rejected,
            "metrics": {**{k: _short(v) for k, v in validation.levels.items()}, "mean": validation.mean},
        }
    meta["calibration"] = _calibration(est, scored, _paths(valid) if valid is not None else [])
    est.card_ = meta
    model_dir = None
    if out is not None:
        if progress is not None:
            progress("saving")
        model_dir = est.save(out)
    if progress is not None:
        progress(f"done: trained in {seconds:.1f} s" + (f", saved to {model_dir}" if model_dir else ""))
    return TrainResult(est, model_dir, meta, validation, len(texts), train_rejected, seconds, warnings)


class StderrProgress:
    """``train_model``'s default progress: one line per step on stderr, with the seconds since the start."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"skutag [{time.perf_counter() - self.start:6.1f} s] {message}", file=sys.stderr, flush=True)


def _calibration(
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


def _short(level: dict[str, Any]) -> dict[str, Any]:
    return {k: level[k] for k in ("accuracy", "f1_weighted", "f1_macro", "top3_accuracy", "ece") if k in level}


def _jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is None or isinstance(v, str | int | float | bool | dict | list)}
