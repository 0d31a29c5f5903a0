"""Explain a saved model's predictions for catalogue file(s): JSON Lines (one explanation per row) and a
self-contained HTML page with the words highlighted."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from skutag.catalogue.columns import detect_id_column
from skutag.catalogue.fields import TextFields
from skutag.catalogue.reader import iter_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ROW_COL, SOURCE_COL
from skutag.explain import explain
from skutag.explain.html import explanations_page
from skutag.fsutil import atomic_write_text
from skutag.log import get_logger
from skutag.models.bundle import load_bundle

log = get_logger(__name__)

JSONL = "explanations.jsonl"
HTML = "explanations.html"


@dataclass
class ExplainStats:
    rows_read: int = 0
    rows_explained: int = 0
    rows_rejected: int = 0
    jsonl: str = ""
    html: str = ""
    method: str = ""
    seconds_per_row: float = 0.0


def explain_files(
    model_dir: str | Path,
    data: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    *,
    path: Sequence[str] | None = None,
    method: str = "auto",
    limit: int | None = None,
    rejects: str | Path | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> ExplainStats:
    """Explain the first ``limit`` rows (all by default) of ``data`` into ``out_dir``/explanations.{jsonl,html}.
    Rows without text are rejected to ``rejects`` (default ``out_dir``/explanations.rejects.jsonl); rows read =
    explained + rejected."""
    model = load_bundle(model_dir).require_category("explain")
    fields = TextFields(model.text_columns_)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = ExplainStats(jsonl=str(out / JSONL), html=str(out / HTML))
    items: list[dict[str, object]] = []
    shown: list[dict[str, str]] = []
    reject_path = Path(rejects) if rejects is not None else out / "explanations.rejects.jsonl"
    seconds = 0.0
    with RejectSink(reject_path) as sink:
        for source in [data] if isinstance(data, str | Path) else list(data):
            for chunk in iter_catalogue(source, chunksize=1000, rejects=sink):
                if limit is not None and stats.rows_read >= limit:
                    break
                if limit is not None:
                    chunk = chunk.iloc[: limit - stats.rows_read]
                stats.rows_read += len(chunk)
                texts = fields.frame(chunk)
                empty = fields.blank(texts)
                for i in chunk.index[empty]:
                    row = chunk.loc[i]
                    sink.add(
                        "empty text: all text columns are empty",
                        source=str(row.get(SOURCE_COL, source)),
                        row=int(row[ROW_COL]) if ROW_COL in chunk.columns else None,
                        column=model.text_columns_[0],
                        record=row,
                    )
                kept = chunk.loc[~empty]
                if not len(kept):
                    continue
                id_col = detect_id_column([str(c) for c in chunk.columns])
                ids = [str(v) for v in kept[id_col]] if id_col else [str(v) for v in kept.get(ROW_COL, kept.index)]
                found = explain(model, texts.loc[~empty], path=path, method=method, ids=ids, on_row=on_rows)
                for ex, (_, row) in zip(found, texts.loc[~empty].iterrows(), strict=True):
                    items.append(ex.to_dict())
                    shown.append({str(c): str(v) for c, v in row.items()})
                    seconds += ex.seconds or 0.0
                    stats.method = ex.method
        stats.rows_rejected = sink.count
    stats.rows_explained = len(items)
    stats.seconds_per_row = seconds / max(1, len(items))
    atomic_write_text(out / JSONL, "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    atomic_write_text(out / HTML, explanations_page(items, shown, f"skutag explanations: {Path(model_dir).name}"))
    log.info("%d rows read, %d explained, %d rejected", stats.rows_read, stats.rows_explained, stats.rows_rejected)
    return stats
