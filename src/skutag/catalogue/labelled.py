"""Turn catalogue files into (texts, labels) for a model, rejecting unusable rows with their reason."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.columns import LabelPathStats, label_frame, resolve_spec
from skutag.catalogue.paths import BAD_LABEL, bad_level
from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.rejects import EMPTY_TEXT, RejectSink
from skutag.catalogue.schema import LINE_COL, ROW_COL, SOURCE_COL, ColumnSpec
from skutag.errors import EmptyInputError
from skutag.log import get_logger

log = get_logger(__name__)

#: Why a row with an empty level before a given one is rejected (a row that stops early is kept).
SKIPPED_LEVEL = "a path may stop early but not skip a level"


@dataclass
class LabelledData:
    """Rows kept for training/evaluation: text columns, level_1..level_n labels, and the full frame."""

    texts: pd.DataFrame
    labels: pd.DataFrame
    frame: pd.DataFrame
    spec: ColumnSpec
    rows_read: int
    rows_rejected: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    #: Depth of the label paths, rows listing several paths, rows cut to ``spec.levels``.
    paths: LabelPathStats = field(default_factory=LabelPathStats)
    #: What a user should know about the labels (values listing several paths, of which the first is used).
    warnings: list[str] = field(default_factory=list)


def _blank(v: object) -> bool:
    return not isinstance(v, str) or not v.strip()


def split_labelled(
    df: pd.DataFrame, spec: ColumnSpec, rejects: RejectSink | None = None, *, require_labels: bool = True
) -> LabelledData:
    """Keep rows with some text (and a level-1 label when ``require_labels``) whose labels the path rule
    accepts (:func:`skutag.catalogue.paths.bad_level`: no ``>`` inside a level, no relative path); reject the
    others, so a prediction's path is always one of the taxonomy's.

    A path may stop early: a row labelled to level 2 of three (empty last levels) is kept, a valid path of a
    taxonomy with uneven depth. A path may not skip a level: a row with an empty level before a given one
    (``A``, empty, ``C``) is rejected, since ``C`` has no parent to hang from."""
    texts = df[list(spec.text)].astype(object)
    texts = texts.where(texts.notna(), "")
    bad_reasons: dict[int, tuple[str, str | None]] = {}
    no_text = texts.apply(lambda r: all(_blank(v) for v in r), axis=1) if len(df) else pd.Series([], dtype=bool)
    for i in df.index[no_text.to_numpy(dtype=bool)]:
        bad_reasons[i] = (EMPTY_TEXT, spec.text[0])
    stats = LabelPathStats()
    labels = label_frame(df, spec, stats) if spec.has_labels else pd.DataFrame(index=df.index)
    if require_labels:
        missing = labels.iloc[:, 0].map(_blank) if labels.shape[1] else pd.Series(True, index=df.index)
        for i in df.index[missing.to_numpy(dtype=bool)]:
            bad_reasons.setdefault(i, ("missing label: no level-1 label", spec.label[0] if spec.label else None))
    for i, (reason, column) in _gaps(labels, spec).items():
        bad_reasons.setdefault(i, (reason, column))
    for i, (reason, column) in _bad_labels(labels, spec).items():
        bad_reasons.setdefault(i, (reason, column))
    if rejects is not None:
        for i, (reason, column) in bad_reasons.items():
            row = df.loc[i]
            line = row[LINE_COL] if LINE_COL in df.columns else None
            rejects.add(
                reason,
                source=str(row[SOURCE_COL]) if SOURCE_COL in df.columns else None,
                row=int(str(row[ROW_COL])) if ROW_COL in df.columns else None,
                column=column,
                record=row.drop(LINE_COL) if LINE_COL in df.columns else row,
                line=None if line is None or pd.isna(line) else int(line),
            )
    if bad_reasons:
        log.warning("%d of %d row(s) rejected (empty text, missing or bad label)", len(bad_reasons), len(df))
    keep = ~df.index.isin(list(bad_reasons))
    kept = df.loc[keep]
    warnings = _label_warnings(df, spec, stats)
    for w in warnings:
        log.warning("%s", w)
    return LabelledData(
        texts=texts.loc[keep],
        labels=labels.loc[keep],
        frame=kept,
        spec=spec,
        rows_read=len(df),
        rows_rejected=len(bad_reasons),
        rejected_by_reason=dict(Counter(reason.split(":", 1)[0] for reason, _ in bad_reasons.values())),
        paths=stats,
        warnings=warnings,
    )


def _gaps(labels: pd.DataFrame, spec: ColumnSpec) -> dict[Any, tuple[str, str | None]]:
    """Index -> (reason, column) for the rows with an empty level before a given one."""
    if labels.shape[1] < 2:
        return {}
    blank = labels.map(_blank).to_numpy(dtype=bool)
    # a given label at this level or any deeper one
    given_below = np.logical_or.accumulate(~blank[:, ::-1], axis=1)[:, ::-1]
    gap = blank[:, :-1] & given_below[:, 1:]
    out: dict[Any, tuple[str, str | None]] = {}
    for r in map(int, np.flatnonzero(gap.any(axis=1))):
        level = int(np.argmax(gap[r]))
        deeper = level + 1 + int(np.argmax(~blank[r, level + 1 :]))
        column = spec.label[0] if spec.is_path_column else spec.label[level]
        reason = f"missing label: level {level + 1} is empty but level {deeper + 1} is not ({SKIPPED_LEVEL})"
        out[labels.index[r]] = (reason, column)
    return out


def _label_warnings(df: pd.DataFrame, spec: ColumnSpec, stats: LabelPathStats) -> list[str]:
    out: list[str] = []
    if stats.several_paths:
        rows = df[ROW_COL].iloc[stats.several_positions].tolist() if ROW_COL in df.columns else stats.several_positions
        out.append(
            f"{stats.several_paths:,} row(s) list several paths in {spec.label[0]!r}; the first of each is used "
            f"(first rows: {', '.join(map(str, rows))})"
        )
    if stats.cut:
        log.info("%d row(s) had more than %s label levels; the first %s are kept", stats.cut, spec.levels, spec.levels)
    return out


def _bad_labels(labels: pd.DataFrame, spec: ColumnSpec) -> dict[Any, tuple[str, str | None]]:
    """Index -> (reason, column) for the rows whose levels break the path rule."""
    if labels.empty:
        return {}
    suspect = pd.Series(False, index=labels.index)
    for col in labels.columns:
        suspect |= labels[col].map(lambda v: isinstance(v, str) and (">" in v or "." in v)).astype(bool)
    out: dict[Any, tuple[str, str | None]] = {}
    for i in labels.index[suspect.to_numpy(dtype=bool)]:
        found = bad_level(labels.loc[i].tolist())
        if found is not None:
            level, reason = found
            out[i] = (reason, spec.label[0] if spec.is_path_column else spec.label[level])
    return out


def load_labelled(
    paths: str | Path | Sequence[str | Path],
    *,
    text: Sequence[str] = (),
    label: Sequence[str] = (),
    label_sep: str | None = None,
    levels: int | None = None,
    rejects: RejectSink | None = None,
    require_labels: bool = True,
) -> LabelledData:
    """Read (and concatenate) catalogue files and split them into texts and labels (the first ``levels``
    levels of them when given)."""
    df = read_catalogue(paths, rejects=rejects, lines=True)
    source = str(paths if isinstance(paths, str | Path) else ", ".join(map(str, paths)))
    spec = resolve_spec(list(df.columns), text=text, label=label, label_sep=label_sep, levels=levels, source=source)
    data = split_labelled(df, spec, rejects, require_labels=require_labels)
    if len(data.texts) == 0:
        why = ", ".join(f"{n} {reason}" for reason, n in data.rejected_by_reason.items())
        hint = "; labels holding '>' are paths: give their separator (--label-sep)" if BAD_LABEL in why else ""
        raise EmptyInputError(f"no usable rows (rejected: {why}{hint})", source=source)
    return data


def data_hash(paths: Sequence[str | Path]) -> str:
    """sha256 over the bytes of the input files, in order."""
    h = hashlib.sha256()
    for p in paths:
        with Path(p).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
