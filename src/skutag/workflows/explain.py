"""Explain a saved model's predictions for catalogue file(s): JSON Lines (one explanation per row) and a
self-contained HTML page with the words highlighted. A model directory with attribute or free-tag parts also
explains each row's tags (``tags``: each value's span and the context words that decided it)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from skutag.catalogue.columns import detect_id_column
from skutag.catalogue.fields import TextFields
from skutag.catalogue.reader import iter_catalogue
from skutag.catalogue.rejects import EMPTY_TEXT, RejectSink, reject_rows
from skutag.catalogue.schema import ROW_COL
from skutag.explain import Explanation, explain
from skutag.explain.html import explanations_page
from skutag.explain.scoring import best_paths
from skutag.explain.tags import TagExplanation, explain_tags, tags_dict
from skutag.fsutil import atomic_write_text
from skutag.log import get_logger
from skutag.models.bundle import ModelBundle, load_bundle

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
    #: attribute values and free tags explained (a model directory with parts), and the time each took
    tags_explained: int = 0
    seconds_per_tag: float = 0.0


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
    bundle = load_bundle(model_dir)
    model = bundle.require_category("explain")
    fields = TextFields(model.text_columns_)
    tag_seconds = 0.0
    tag_fields: list[dict[str, str]] = []
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
                reject_rows(sink, chunk, empty, EMPTY_TEXT, source=str(source), column=model.text_columns_[0])
                kept = chunk.loc[~empty]
                if not len(kept):
                    continue
                id_col = detect_id_column([str(c) for c in chunk.columns])
                ids = [str(v) for v in kept[id_col]] if id_col else [str(v) for v in kept.get(ROW_COL, kept.index)]
                found = explain(model, texts.loc[~empty], path=path, method=method, ids=ids, on_row=on_rows)
                tagged = _explain_tags(bundle, kept, found, texts.loc[~empty], path is not None)
                for i, (ex, (_, row)) in enumerate(zip(found, texts.loc[~empty].iterrows(), strict=True)):
                    item = ex.to_dict()
                    if tagged is not None:
                        item["tags"] = tags_dict(tagged[0][i])
                        tag_fields.append(tagged[1][i])
                        stats.tags_explained += len(tagged[0][i])
                        tag_seconds += sum(t.seconds or 0.0 for t in tagged[0][i].values())
                    items.append(item)
                    shown.append({str(c): str(v) for c, v in row.items()})
                    seconds += ex.seconds or 0.0
                    stats.method = ex.method
        stats.rows_rejected = sink.count
    stats.rows_explained = len(items)
    stats.seconds_per_row = seconds / max(1, len(items))
    stats.seconds_per_tag = tag_seconds / max(1, stats.tags_explained)
    atomic_write_text(out / JSONL, "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    title = f"skutag explanations: {Path(model_dir).name}"
    atomic_write_text(out / HTML, explanations_page(items, shown, title, tag_fields if bundle.extracts_tags else None))
    log.info("%d rows read, %d explained, %d rejected", stats.rows_read, stats.rows_explained, stats.rows_rejected)
    return stats


def _explain_tags(
    bundle: ModelBundle, rows: pd.DataFrame, found: Sequence[Explanation], texts: pd.DataFrame, other_path: bool
) -> tuple[list[dict[str, TagExplanation]], list[dict[str, str]]] | None:
    """The rows' tag explanations and, per row, the parts' fields (``{field: text}``) they point into; None for a
    model directory without parts. The predicted path gives a row its group where the rows lack the group column
    (as ``skutag predict`` does): the explained one, unless ``--path`` chose another."""
    if not bundle.extracts_tags:
        return None
    paths = best_paths(bundle.require_category("explain"), texts) if other_path else [ex.path for ex in found]
    explained = explain_tags(bundle, rows, paths)
    shown: list[dict[str, str]] = [{} for _ in range(len(rows))]
    for part in bundle.parts.values():
        frame = part.fields.frame(rows)
        for mine, values in zip(shown, frame[part.text_columns].astype(str).values.tolist(), strict=True):
            mine.update({part.fields.field(c): v for c, v in zip(part.text_columns, values, strict=True)})
    return explained, shown
