"""Reviewed labels out of the store as training data that ``skutag train`` reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from skutag.catalogue.writer import write_catalogue
from skutag.errors import EmptyInputError
from skutag.log import get_logger
from skutag.store.repository import TagStore
from skutag.taxonomy import PATH_SEP

log = get_logger(__name__)

_CHUNK = 5000


def _frames(store: TagStore, levels: int) -> Iterator[pd.DataFrame]:
    rows: list[dict[str, Any]] = []
    for item in store.reviewed_labels():
        path = item["path"]
        row: dict[str, Any] = {"id": item["id"]}
        row.update({str(k): "" if v is None else str(v) for k, v in item["fields"].items() if k != "id"})
        row["path"] = PATH_SEP.join(path)
        for lv in range(levels):
            row[f"level_{lv + 1}"] = path[lv] if lv < len(path) else ""
        row["tags"] = json.dumps(item["tags"], ensure_ascii=False, sort_keys=True)
        row["review_action"] = item["action"]
        row["reviewer"] = item["reviewer"]
        row["reviewed_at"] = item["reviewed_at"]
        row["model_version"] = item["model_version"] or ""
        rows.append(row)
        if len(rows) >= _CHUNK:
            yield pd.DataFrame(rows, dtype=object)
            rows = []
    if rows:
        yield pd.DataFrame(rows, dtype=object)


def export_reviews(db_url: str | Path, out: str | Path, *, levels: int | None = None) -> int:
    """Write every product's latest human decision to ``out`` (.csv/.jsonl/.parquet; format by suffix).

    Columns: ``id``, the product's text fields (``name``, ``description`` ...), ``path`` (levels joined by
    ``" > "``), ``level_1..level_n``, ``tags``, and who reviewed it when (``review_action``, ``reviewer``,
    ``reviewed_at``, ``model_version``). Train on it with ``skutag train OUT --label level_1,level_2,...`` (or
    ``--label path --label-sep " > "``).

    ``tags`` holds the latest review's tags, reviewer corrections included, as the text of one JSON object
    ``{name: entry}`` per row (``{}`` for none), the same text in every format so that one reader takes CSV,
    JSONL and Parquet alike. An entry is ``extraction.entries.TagEntry``: ``value``, and where the value is in
    the product's text (``text``, ``field``, ``start``, ``end``: character offsets in that text column of the
    same row), ``confidence``, ``decision``, ``kind`` and ``source`` (``"review"`` for what a person set).
    ``skutag train EXPORT --model extractor`` reads the ``tags`` column back.
    Returns the number of rows; raises :class:`EmptyInputError` when nothing has been reviewed.
    """
    with TagStore(db_url) as store:
        if levels is None:
            levels = max((len(item["path"]) for item in store.reviewed_labels()), default=0)
        if levels == 0:
            raise EmptyInputError("no reviewed products in the store yet; nothing to export", source=str(db_url))
        frames = list(_frames(store, levels))
        columns: list[str] = []
        for frame in frames:
            columns.extend(c for c in frame.columns if c not in columns)
        n = write_catalogue((f.reindex(columns=columns).fillna("") for f in frames), out)
    log.info("exported %d reviewed product(s) to %s", n, out)
    return n
