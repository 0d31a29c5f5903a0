"""Apply a saved model to catalogue files, streaming in chunks, and write CSV/JSONL/Parquet predictions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skutag.catalogue.columns import detect_id_column, find_column
from skutag.catalogue.fields import TextFields
from skutag.catalogue.reader import ReadStats, iter_catalogue
from skutag.catalogue.rejects import EMPTY_TEXT, RejectSink, reject_rows
from skutag.catalogue.schema import ROW_COL, SOURCE_COL
from skutag.catalogue.writer import write_catalogue
from skutag.errors import MissingColumnError
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.models.bundle import ModelBundle, load_bundle
from skutag.taxonomy import PATH_SEP

log = get_logger(__name__)


@dataclass
class PredictStats:
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0


def prediction_frame(model: CategoryModel, texts: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """Per row: ``path``, ``level_i``, ``score_level_i``, ``path_score`` and ``alternatives`` (JSON list of the
    next best paths with their scores)."""
    top = model.predict_scored(texts, k=k)
    n = len(model.levels_)
    best = [p[0] for p in top.paths]
    out: dict[str, object] = {"path": [PATH_SEP.join(p) for p in best]}
    for lv in range(n):
        out[f"level_{lv + 1}"] = [p[lv] if lv < len(p) else None for p in best]
    level_scores = top.level_scores if top.level_scores is not None else np.full((len(best), n), np.nan)
    for lv in range(n):
        out[f"score_level_{lv + 1}"] = np.round(level_scores[:, lv], 6)
    scores = np.asarray(top.scores)
    out["path_score"] = np.round(scores[:, 0], 6) if len(best) else np.zeros(0)
    out["alternatives"] = [
        json.dumps(
            [{"path": PATH_SEP.join(p), "score": round(float(s), 6)} for p, s in zip(paths[1:], row[1:], strict=True)],
            ensure_ascii=False,
        )
        for paths, row in zip(top.paths, scores.tolist(), strict=True)
    ]
    return pd.DataFrame(out, index=texts.index)


def tags_column(bundle: ModelBundle, rows: pd.DataFrame, paths: list[list[str]] | None = None) -> list[str]:
    """The ``tags`` column: per row a JSON object ``{name: entry}`` (:mod:`skutag.extraction.entries`)."""
    return [json.dumps(t, ensure_ascii=False) for t in bundle.predict_tags(rows, paths=paths)]


def _text_columns(bundle: ModelBundle) -> list[str]:
    """The columns a row must have text in: the category model's, else its parts' (all of them)."""
    if bundle.category is not None:
        return list(bundle.category.text_columns_)
    return list(dict.fromkeys(c for p in bundle.parts.values() for c in p.text_columns))


def front_columns(id_col: str | None, keep: Sequence[str]) -> list[str]:
    """The columns each output row starts with: where it came from, the product id and the kept columns."""
    return list(dict.fromkeys(c for c in (SOURCE_COL, ROW_COL, id_col, *keep) if c is not None))


def output_id_column(columns: Sequence[str], id_column: str | None, source: str) -> str | None:
    """The product id column kept in the output: ``id_column`` (which must be there), else an id-like one."""
    names = [str(c) for c in columns]
    id_col = find_column(id_column, names, source) if id_column else detect_id_column(names)
    if id_col is not None:
        log.info("product id column: %r (kept in the output)", id_col)
    return id_col


def predict_chunk(
    bundle: ModelBundle, chunk: pd.DataFrame, *, k: int, front: Sequence[str], rejects: RejectSink, source: str
) -> pd.DataFrame:
    """The output rows of one chunk read by :func:`~skutag.catalogue.reader.iter_catalogue` (``_source`` and
    ``_row`` included): the ``front`` columns, then the predicted ones (:func:`prediction_frame`, and ``tags``
    when the bundle has parts). A row with no text goes to ``rejects`` instead; every other row is in the
    result. The one per-chunk rule of ``predict``, in one process or on a Ray cluster
    (:mod:`skutag.workflows.predict_ray`)."""
    model = bundle.category
    text_columns = _text_columns(bundle)
    fields = TextFields(text_columns)  # the rule the bulk and API roads use too
    if not fields.present(chunk.columns):
        raise MissingColumnError(
            f"none of the model's text columns {text_columns} is in the file (has "
            f"{[c for c in chunk.columns if not str(c).startswith('_')]})",
            source=source,
            column=text_columns[0],
        )
    texts = fields.frame(chunk)
    empty = fields.blank(texts)
    reject_rows(rejects, chunk, empty, EMPTY_TEXT, source=source, column=text_columns[0])
    ok = ~empty
    kept = chunk.loc[ok]
    if model is not None:
        pred = prediction_frame(model, texts.loc[ok] if ok.any() else texts.iloc[:0], k=k)
    else:
        pred = pd.DataFrame(index=kept.index)
    if bundle.extracts_tags:
        best = [str(p).split(PATH_SEP) for p in pred["path"]] if "path" in pred.columns else None
        pred["tags"] = tags_column(bundle, kept, best) if len(kept) else []
    head = kept[[c for c in front if c in kept.columns]]
    return pd.concat([head, pred], axis=1).reset_index(drop=True)


def _predict_chunks(
    bundle: ModelBundle,
    paths: Sequence[str | Path],
    k: int,
    chunksize: int,
    rejects: RejectSink,
    stats: PredictStats,
    keep: Sequence[str],
    on_rows: Callable[[int], None] | None,
    id_column: str | None = None,
    keep_id: bool = True,
) -> Iterator[pd.DataFrame]:
    front: list[str] | None = None
    for path in paths:
        read = ReadStats(str(path))
        for chunk in iter_catalogue(path, chunksize=chunksize, rejects=rejects, stats=read):
            if front is None:  # once: every chunk keeps the same columns
                id_col = output_id_column(list(chunk.columns), id_column, str(path)) if keep_id else None
                front = front_columns(id_col, keep)
            before = rejects.count
            result = predict_chunk(bundle, chunk, k=k, front=front, rejects=rejects, source=str(path))
            stats.rows_rejected += rejects.count - before
            stats.rows_written += len(result)
            if on_rows is not None:
                on_rows(len(chunk))
            yield result
        stats.rows_read += read.records  # every record in the file, the ones the reader rejected too


def predict_files(
    model_dir: str | Path,
    data: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    k: int = 3,
    chunksize: int = 50_000,
    rejects: str | Path | None = None,
    keep_columns: Sequence[str] = (),
    on_rows: Callable[[int], None] | None = None,
    id_column: str | None = None,
    keep_id: bool = True,
) -> PredictStats:
    """Predict every row of ``data`` (several files are concatenated) into ``out`` (format from its suffix:
    .csv, .jsonl, .parquet ...). A model directory with an attribute or tag part adds a ``tags`` column (JSON
    ``{name: {value, text, field, start, end, confidence, ...}}``); one with parts only writes just that. Streams
    ``chunksize`` rows at a time. Rows with no text are rejected to
    ``rejects`` (default: ``<out>.rejects.jsonl``). Rows read = rows written + rows rejected.

    Each output row starts with ``_source`` and ``_row`` (where it came from), the product id column
    (``id_column``, else the first file's id-like column: ``id``, ``sku``, ``Product ID``, ``uniq_id`` ...;
    none with ``keep_id=False``) and the ``keep_columns``."""
    bundle = load_bundle(model_dir)
    paths = [data] if isinstance(data, str | Path) else list(data)
    out = Path(out)
    stats = PredictStats()
    reject_path = Path(rejects) if rejects is not None else out.with_name(out.name + ".rejects.jsonl")
    with RejectSink(reject_path) as sink:
        write_catalogue(
            _predict_chunks(bundle, paths, k, chunksize, sink, stats, keep_columns, on_rows, id_column, keep_id), out
        )
        stats.rows_rejected = sink.count
    log.info("%d rows read, %d predicted, %d rejected", stats.rows_read, stats.rows_written, stats.rows_rejected)
    return stats
