"""Turn catalogue files into (texts, labels) for a model, rejecting unusable rows with their reason."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from skutag.catalogue.columns import label_frame, resolve_spec
from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ROW_COL, SOURCE_COL, ColumnSpec
from skutag.errors import EmptyInputError
from skutag.log import get_logger

log = get_logger(__name__)


@dataclass
class LabelledData:
    """Rows kept for training/evaluation: text columns, level_1..level_n labels, and the full frame."""

    texts: pd.DataFrame
    labels: pd.DataFrame
    frame: pd.DataFrame
    spec: ColumnSpec
    rows_read: int
    rows_rejected: int


def _blank(v: object) -> bool:
    return not isinstance(v, str) or not v.strip()


def split_labelled(
    df: pd.DataFrame, spec: ColumnSpec, rejects: RejectSink | None = None, *, require_labels: bool = True
) -> LabelledData:
    """Keep rows with some text (and a level-1 label when ``require_labels``); reject the others."""
    texts = df[list(spec.text)].astype(object)
    texts = texts.where(texts.notna(), "")
    bad_reasons: dict[int, tuple[str, str | None]] = {}
    no_text = texts.apply(lambda r: all(_blank(v) for v in r), axis=1) if len(df) else pd.Series([], dtype=bool)
    for i in df.index[no_text.to_numpy(dtype=bool)]:
        bad_reasons[i] = ("empty text: all text columns are empty", spec.text[0])
    labels = label_frame(df, spec) if spec.has_labels else pd.DataFrame(index=df.index)
    if require_labels:
        missing = labels.iloc[:, 0].map(_blank) if labels.shape[1] else pd.Series(True, index=df.index)
        for i in df.index[missing.to_numpy(dtype=bool)]:
            bad_reasons.setdefault(i, ("missing label: no level-1 label", spec.label[0] if spec.label else None))
    if rejects is not None:
        for i, (reason, column) in bad_reasons.items():
            row = df.loc[i]
            rejects.add(
                reason,
                source=str(row[SOURCE_COL]) if SOURCE_COL in df.columns else None,
                row=int(str(row[ROW_COL])) if ROW_COL in df.columns else None,
                column=column,
                record=row,
            )
    if bad_reasons:
        log.warning("%d of %d row(s) rejected (empty text or missing label)", len(bad_reasons), len(df))
    keep = ~df.index.isin(list(bad_reasons))
    kept = df.loc[keep]
    return LabelledData(
        texts=texts.loc[keep],
        labels=labels.loc[keep],
        frame=kept,
        spec=spec,
        rows_read=len(df),
        rows_rejected=len(bad_reasons),
    )


def load_labelled(
    paths: str | Path | Sequence[str | Path],
    *,
    text: Sequence[str] = (),
    label: Sequence[str] = (),
    label_sep: str | None = None,
    rejects: RejectSink | None = None,
    require_labels: bool = True,
) -> LabelledData:
    """Read (and concatenate) catalogue files and split them into texts and labels."""
    df = read_catalogue(paths, rejects=rejects)
    source = str(paths if isinstance(paths, str | Path) else ", ".join(map(str, paths)))
    spec = resolve_spec(list(df.columns), text=text, label=label, label_sep=label_sep, source=source)
    data = split_labelled(df, spec, rejects, require_labels=require_labels)
    if len(data.texts) == 0:
        raise EmptyInputError("no usable rows (every row lacks text or a label)", source=source)
    return data


def data_hash(paths: Sequence[str | Path]) -> str:
    """sha256 over the bytes of the input files, in order."""
    h = hashlib.sha256()
    for p in paths:
        with Path(p).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
