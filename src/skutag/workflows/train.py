"""Train a model from catalogue files, evaluate it on validation data, and save it with its model card."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skutag.catalogue.columns import deepest_level_warning
from skutag.catalogue.labelled import load_labelled
from skutag.catalogue.rejects import RejectSink
from skutag.errors import ConfigError
from skutag.evaluation.metrics import EvaluationResult
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.models.registry import create_model
from skutag.workflows.model_card import (
    add_validation,
    as_paths,
    as_progress,
    base_card,
    save_with_card,
    score_validation,
)

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
    second = {Path(p).resolve() for p in as_paths(b)}
    return [str(p) for p in as_paths(a) if Path(p).resolve() in second]


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
    progress = as_progress(progress)
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
        score = score_validation(est, valid, spec, sink, progress) if valid is not None else None
    finally:
        if not isinstance(rejects, RejectSink):
            sink.close()
    meta = base_card(
        model,
        est,
        spec=spec,
        data=data,
        labels=train.labels,
        rows_used=len(texts),
        rows_rejected=train_rejected,
        seconds=seconds,
    )
    if warnings:
        meta["warnings"] = warnings
    if loop_runner is not None:
        meta["distributed"] = dict(loop_runner.card)
    if tuning is not None and tune is not None:
        meta["tuning"] = {
            "data": [str(p) for p in as_paths(tune)],
            "rows_rejected": tune_rejected,
            **(est.tuning_ or {}),
            "note": TUNING_NOTE,
        }
    add_validation(meta, est, valid, score)
    model_dir = save_with_card(est, meta, out, progress, f"trained in {seconds:.1f} s")
    validation = score.result if score is not None else None
    return TrainResult(est, model_dir, meta, validation, len(texts), train_rejected, seconds, warnings)
