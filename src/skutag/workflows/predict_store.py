"""Bulk predictions into the tag store (the nightly job): the same decisions as the API, for whole files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skutag.catalogue.columns import detect_id_column
from skutag.catalogue.reader import iter_catalogue
from skutag.catalogue.rejects import EMPTY_TEXT, RejectSink, reject_rows
from skutag.catalogue.schema import ROW_COL, SOURCE_COL
from skutag.log import get_logger
from skutag.serving.tagger import Tagger, load_served_model
from skutag.store import PredictionRecord, TagStore
from skutag.store.tables import DECISION_AUTO, DECISION_REVIEW

log = get_logger(__name__)


@dataclass
class BulkStats:
    rows_read: int = 0
    rows_stored: int = 0
    rows_rejected: int = 0
    auto_accepted: int = 0
    needs_review: int = 0
    model_version: str = ""
    threshold: float = 0.0


def _id_column(columns: Sequence[str], wanted: str | None) -> str | None:
    if wanted:
        return {c.lower(): c for c in columns}.get(wanted.lower())
    return detect_id_column(columns)


def _products(chunk: pd.DataFrame, tagger: Tagger, id_col: str | None, source: str) -> list[dict[str, str]]:
    """The chunk's rows as products: the id and every text column the model reads, under the fields the API
    and the store use (:meth:`TextFields.product`), so that a stored product re-scores to the same answer."""
    fields = tagger.fields
    texts = fields.frame(chunk)
    out = []
    for rec, values in zip(chunk.to_dict("records"), texts.itertuples(index=False, name=None), strict=True):
        ident = rec.get(id_col) if id_col else None
        if ident is None or (isinstance(ident, float) and ident != ident) or not str(ident).strip():
            ident = f"{Path(str(rec.get(SOURCE_COL, source))).name}:{rec.get(ROW_COL)}"
        out.append({"id": str(ident).strip()[:200], **fields.product(values)})
    return out


def store_records(
    tagger: Tagger, chunk: pd.DataFrame, id_column: str | None, source: str, rejects: RejectSink
) -> list[PredictionRecord]:
    """The records one chunk read by :func:`iter_catalogue` adds to the store: one per row with text (rows without
    any go to ``rejects``). The one per-chunk rule of ``predict --db``, in one process or on a Ray cluster
    (:mod:`skutag.workflows.predict_ray`)."""
    id_col = _id_column([str(c) for c in chunk.columns], id_column)
    products = _products(chunk, tagger, id_col, source)
    empty = np.array([not tagger.has_text(p) for p in products], dtype=bool)
    reject_rows(rejects, chunk, empty, EMPTY_TEXT, source=source, column=tagger.served.model.text_columns_[0])
    return tagger.tag([p for p, e in zip(products, empty, strict=True) if not e])


def count_decisions(stats: BulkStats, records: Sequence[PredictionRecord]) -> None:
    """Add ``records`` (just written) to the stored, auto-accepted and to-review counts."""
    stats.rows_stored += len(records)
    stats.auto_accepted += sum(r.decision == DECISION_AUTO for r in records)
    stats.needs_review += sum(r.decision == DECISION_REVIEW for r in records)


def batch_actor(model_version: str) -> str:
    """Who the audit log says wrote a bulk run's predictions."""
    return f"batch:{model_version}"


def predict_into_store(
    model_dir: str | Path,
    data: str | Path | Sequence[str | Path],
    db_url: str | Path,
    *,
    id_column: str | None = None,
    k: int = 3,
    chunksize: int = 5000,
    target_precision: float = 0.98,
    threshold: float | None = None,
    rejects: str | Path | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> BulkStats:
    """Predict every row of ``data`` and write products + predictions to the store, one transaction per chunk.

    The product id comes from ``id_column`` (default: an ``id``/``sku``-like column, else ``file:row``).
    Rows without text are rejected to ``rejects``. Rows read = rows stored + rows rejected.
    """
    served = load_served_model(model_dir, target_precision=target_precision, threshold=threshold)
    tagger = Tagger(served, top_k=k)
    paths = [data] if isinstance(data, str | Path) else list(data)
    stats = BulkStats(model_version=served.version, threshold=served.threshold)
    with TagStore(db_url) as store, RejectSink(rejects) as sink:
        for path in paths:
            for chunk in iter_catalogue(path, chunksize=chunksize, rejects=sink):
                stats.rows_read += len(chunk)
                records = store_records(tagger, chunk, id_column, str(path), sink)
                store.record_predictions(records, actor=batch_actor(served.version))
                count_decisions(stats, records)
                if on_rows is not None:
                    on_rows(len(chunk))
        stats.rows_rejected = sink.count
    log.info(
        "%d rows read, %d stored (%d auto-accepted, %d to review), %d rejected",
        stats.rows_read,
        stats.rows_stored,
        stats.auto_accepted,
        stats.needs_review,
        stats.rows_rejected,
    )
    return stats
