"""``skutag distill``: a saved teacher model teaches a new student (linear or transformer) its path distribution on
labelled catalogue files and unlabelled product text, and the student is saved as a normal model directory of its
kind, with a card recording the teacher and the distillation settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from skutag.catalogue.columns import deepest_level_warning, find_column, resolve_spec
from skutag.catalogue.labelled import load_labelled, split_labelled
from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.errors import ConfigError, MissingColumnError
from skutag.evaluation.metrics import EvaluationResult
from skutag.fsutil import pinned
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.models.card import read_meta
from skutag.models.distill import STUDENTS, Distiller, DistillSettings, TransferRows
from skutag.models.registry import create_model, load_model
from skutag.serving.tagger import model_version
from skutag.workflows.model_card import (
    add_validation,
    as_paths,
    as_progress,
    base_card,
    save_with_card,
    score_validation,
)

log = get_logger(__name__)


@dataclass
class DistillResult:
    """The fitted student, where it was saved, its card and validation, and the rows it learnt from: labelled rows
    in = ``rows_used`` + ``rows_rejected``; unlabelled rows in = ``unlabelled_used`` + ``unlabelled_rejected`` (no
    text, unreadable) + ``unlabelled_left_out`` (the teacher's confidence under ``min_confidence``)."""

    model: CategoryModel
    model_dir: Path | None
    meta: dict[str, Any]
    validation: EvaluationResult | None
    rows_used: int
    rows_rejected: int
    unlabelled_used: int
    unlabelled_rejected: int
    unlabelled_left_out: int
    augmented_used: int
    augmented_left_out: int
    train_seconds: float
    warnings: list[str] = field(default_factory=list)


def distill_model(
    teacher: str | Path,
    data: str | Path | Sequence[str | Path],
    *,
    student: str = "linear",
    text: Sequence[str] = (),
    label: Sequence[str] = (),
    label_sep: str | None = None,
    levels: int | None = None,
    unlabelled: str | Path | Sequence[str | Path] | None = None,
    unlabelled_text: Sequence[str] = (),
    params: dict[str, Any] | None = None,
    settings: DistillSettings | None = None,
    out: str | Path | None = None,
    valid: str | Path | Sequence[str | Path] | None = None,
    rejects: str | Path | RejectSink | None = None,
    progress: Callable[[str], None] | bool | None = True,
) -> DistillResult:
    """Distil the model saved at ``teacher`` into a new ``student`` (a kind of
    :data:`~skutag.models.distill.STUDENTS`, hyperparameters ``params``) and save it to ``out``.

    ``data``: labelled catalogue files; ``label`` / ``label_sep`` / ``levels`` default to the teacher card's label
    columns, ``text`` (the student's text columns) to the teacher's. The teacher reads its own text columns from the
    same rows (a column it reads that a file lacks is empty). ``unlabelled``: catalogue files whose rows have text
    only; ``unlabelled_text`` names their columns standing for the student's text columns, in order (e.g.
    ``input_title`` for ``Name``), by default the same names. Rows without student text are rejected (to
    ``rejects``). ``settings``: temperature, alpha, confidence threshold, augmentation
    (:class:`~skutag.models.distill.DistillSettings`). ``valid``: labelled files the student is evaluated on, and
    its card's calibration table made of (else of the labelled rows its fit scored out of fold)."""
    progress = as_progress(progress)
    settings = settings or DistillSettings()
    settings.check()
    if student not in STUDENTS:
        raise ConfigError(f"unknown student {student!r}; choose from {', '.join(STUDENTS)}")
    est = create_model(student, **(params or {}))
    est._validate_params()
    if progress is not None:
        progress(f"loading teacher {teacher}")
    teacher_dir = pinned(Path(teacher))
    teacher_model = load_model(teacher)
    teacher_meta = read_meta(teacher_dir)
    card = teacher_model.card_ or {}
    text = tuple(text) or tuple(card.get("text_columns") or teacher_model.text_columns_)
    if not label:
        label = tuple(card.get("label_columns") or ())
        if not label:
            raise ConfigError(f"{teacher}: its card names no label columns; give --label")
        label_sep = label_sep if label_sep is not None else card.get("label_sep")
        levels = levels if levels is not None else card.get("label_levels")
    sink = rejects if isinstance(rejects, RejectSink) else RejectSink(rejects)
    try:
        before = sink.count
        if progress is not None:
            progress("reading labelled data")
        train = load_labelled(data, text=text, label=label, label_sep=label_sep, levels=levels, rejects=sink)
        rejected = sink.count - before
        spec = train.spec
        warnings = list(train.warnings)
        deepest = deepest_level_warning(train.labels)
        if deepest is not None:
            warnings.append(deepest)
        student_cols = [str(c) for c in spec.text]
        teacher_cols = list(teacher_model.text_columns_)
        extra_s = extra_t = None
        n_unlabelled = unlabelled_rejected = 0
        if unlabelled is not None and as_paths(unlabelled):
            if progress is not None:
                progress("reading unlabelled data")
            before = sink.count
            frame = read_catalogue(unlabelled, rejects=sink, lines=True)
            read_rejects = sink.count - before
            source = ", ".join(map(str, as_paths(unlabelled)))
            given = tuple(unlabelled_text) or tuple(student_cols)
            if len(given) != len(student_cols):
                raise ConfigError(
                    f"--unlabelled-text names {len(given)} column(s); the student reads {len(student_cols)} "
                    f"({', '.join(student_cols)})"
                )
            found = [find_column(c, list(frame.columns), source) for c in given]
            others = {c: f"{c} (unlabelled)" for c in frame.columns if c in student_cols and c not in found}
            frame = frame.rename(columns={**others, **dict(zip(found, student_cols, strict=True))})
            before = sink.count
            spec_u = resolve_spec(list(frame.columns), text=student_cols, source=source)
            kept = split_labelled(frame, spec_u, sink, require_labels=False)
            unlabelled_rejected = read_rejects + sink.count - before
            n_unlabelled = len(kept.texts)
            extra_s = kept.texts[student_cols].reset_index(drop=True)
            extra_t = _teacher_view(kept.frame, teacher_cols, source, strict=False)
        teacher_view = _teacher_view(train.frame, teacher_cols, ", ".join(map(str, as_paths(data))), strict=True)
        rows = TransferRows.build(
            train.texts[student_cols].reset_index(drop=True),
            teacher_view,
            train.labels.reset_index(drop=True),
            extra_s,
            extra_t,
        )
        if progress is not None:
            est.progress = progress
            progress(
                f"distilling {teacher_model.kind} into {student}: {len(train.texts):,} labelled rows ({rejected:,} "
                f"rejected), {n_unlabelled:,} unlabelled ({unlabelled_rejected:,} rejected)"
            )
        t0 = time.perf_counter()
        distiller = Distiller(teacher_model, est, settings, progress)
        distiller.fit(rows)
        seconds = time.perf_counter() - t0
        stats = distiller.stats_
        score = score_validation(est, valid, spec, sink, progress) if valid is not None else None
    finally:
        if not isinstance(rejects, RejectSink):
            sink.close()
    counts = stats["rows"]
    meta = base_card(
        student,
        est,
        spec=spec,
        data=data,
        labels=train.labels,
        rows_used=len(train.texts),
        rows_rejected=rejected,
        seconds=seconds,
    )
    meta["distillation"] = {
        "teacher": {
            "directory": str(Path(teacher)),
            "kind": teacher_model.kind,
            "version": model_version(teacher_meta),
            "text_columns": teacher_cols,
            "validation": (card.get("validation") or {}).get("metrics"),
        },
        "settings": distiller.settings.to_dict(),
        "unlabelled": {
            "data": [str(p) for p in as_paths(unlabelled)] if unlabelled is not None else [],
            "text_columns": list(unlabelled_text) or student_cols,
            "rows_used": counts["unlabelled"]["kept"],
            "rows_rejected": unlabelled_rejected,
            "rows_left_out": counts["unlabelled"]["in"] - counts["unlabelled"]["kept"],
        },
        "stats": {k: v for k, v in stats.items() if k != "rows"} | {"rows": counts},
        "path_table": "the teacher's paths that some row's target reaches (see skutag.models.distill)",
    }
    if warnings:
        meta["warnings"] = warnings
    add_validation(meta, est, valid, score)
    model_dir = save_with_card(est, meta, out, progress, f"distilled in {seconds:.1f} s")
    validation = score.result if score is not None else None
    return DistillResult(
        est,
        model_dir,
        meta,
        validation,
        len(train.texts),
        rejected,
        counts["unlabelled"]["kept"],
        unlabelled_rejected,
        counts["unlabelled"]["in"] - counts["unlabelled"]["kept"],
        counts["augmented"]["kept"],
        counts["augmented"]["in"] - counts["augmented"]["kept"],
        seconds,
        warnings,
    )


def _teacher_view(frame: pd.DataFrame, columns: list[str], source: str, strict: bool) -> pd.DataFrame:
    """The teacher's text columns of ``frame`` (found case-insensitively; a missing one is empty). ``strict``: a
    MissingColumnError when the rows have none of them (labelled data the teacher cannot read)."""
    out = pd.DataFrame(index=range(len(frame)))
    found = 0
    for c in columns:
        try:
            actual = find_column(c, list(frame.columns), source)
        except MissingColumnError:
            out[c] = ""
            continue
        found += 1
        values = frame[actual].astype(object)
        out[c] = values.where(values.notna(), "").to_numpy()
    if strict and not found:
        raise MissingColumnError(
            f"the data has none of the teacher's text columns {columns} (has {list(frame.columns)})",
            column=columns[0],
            source=source,
        )
    missing = [c for c in columns if (out[c] == "").all()] if len(out) else []
    if missing and found:
        log.warning("teacher column(s) %s missing or empty in %s; the teacher reads them as empty", missing, source)
    return out
