"""Map catalogue files onto a standard taxonomy without labels (``skutag map``), streaming to CSV/JSONL/Parquet.

The output has the columns of ``skutag predict`` (``path``, ``level_1`` ..., ``score_level_1`` ...,
``path_score``, ``alternatives``) plus ``decision``: ``auto_accepted`` when the best path's confidence
(``path_score``, its share of the shortlist's probability) reaches ``threshold``, else ``needs_review``.
Paths are in the taxonomy's language (``--lang``); in a language other than English, ``path_en`` follows
``path`` with the same category's English path (the ids are shared), to join with English-keyed data.
No labels exist to calibrate a threshold, so by default nothing is auto-accepted, as with an uncalibrated model
elsewhere in skutag: retrieval's confidence is not a probability of being right (on MWPD no threshold lifts
level-1 precision above ~0.7; docs/benchmarks.md). A user who has checked a sample passes ``threshold``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.columns import detect_id_column, detect_text_columns, find_column
from skutag.catalogue.fields import TextFields
from skutag.catalogue.reader import ReadStats, iter_catalogue
from skutag.catalogue.rejects import EMPTY_TEXT, RejectSink, reject_rows
from skutag.catalogue.schema import ROW_COL, SOURCE_COL
from skutag.catalogue.writer import write_catalogue
from skutag.errors import ConfigError, MissingColumnError
from skutag.log import get_logger
from skutag.models.mapping import MapResult, TaxonomyMapper
from skutag.models.mapping.llm import LLMReranker
from skutag.models.mapping.rerank import closing_reranker
from skutag.models.neural.encoder import field_texts
from skutag.store.tables import DECISION_AUTO, DECISION_REVIEW
from skutag.taxonomy import PATH_SEP
from skutag.taxonomy.sources import load_taxonomy_source

log = get_logger(__name__)

FIELDS = ("title", "all")


@dataclass
class MapStats:
    taxonomy: str = ""
    categories: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    auto_accepted: int = 0
    needs_review: int = 0
    threshold: float | None = None
    text_columns: list[str] = field(default_factory=list)
    #: ``--crosswalk``: shop categories mapped, how many of them auto-accepted, and the crosswalk table's path.
    crosswalk_categories: int = 0
    crosswalk_auto_accepted: int = 0
    crosswalk_file: str | None = None


def query_texts(texts: pd.DataFrame, fields: str = "title") -> list[str]:
    """The text each row is mapped by: its title (else its first non-empty column) or, with ``all``, every
    non-empty text column joined by `` | ``."""
    if fields not in FIELDS:
        raise ConfigError(f"fields must be one of {FIELDS}, not {fields!r}")
    return field_texts(texts, fields)


def mapping_frame(
    mapper: TaxonomyMapper, queries: Sequence[str], *, k: int = 3, threshold: float | None = None
) -> pd.DataFrame:
    """One row per query with the output columns (``path``, ``level_i``, ``score_level_i``, ``path_score``,
    ``alternatives``, ``decision``)."""
    return result_frame(mapper.map(queries, k=k), mapper, threshold)


def result_frame(result: MapResult, mapper: TaxonomyMapper, threshold: float | None = None) -> pd.DataFrame:
    """:func:`mapping_frame`'s columns for ``mapper``'s ``result`` (a taxonomy in another language also gets each
    path in English, ``path_en``)."""
    depth = mapper.depth
    best = [p[0] for p in result.paths]
    out: dict[str, Any] = {"path": [PATH_SEP.join(p) for p in best]}
    english = mapper.source.english
    if english is not None:  # a taxonomy in another language: each path in English too (same ids)
        out["path_en"] = [PATH_SEP.join(english.path(ids[0])) for ids in result.ids]
    for lv in range(depth):
        out[f"level_{lv + 1}"] = [p[lv] if lv < len(p) else None for p in best]
    for lv in range(depth):
        out[f"score_level_{lv + 1}"] = np.round(result.level_scores[:, lv], 6)
    conf = result.scores[:, 0] if len(best) else np.zeros(0)
    out["path_score"] = np.round(conf, 6)
    out["alternatives"] = [
        json.dumps(
            [{"path": PATH_SEP.join(p), "score": round(float(s), 6)} for p, s in zip(paths[1:], row[1:], strict=True)],
            ensure_ascii=False,
        )
        for paths, row in zip(result.paths, result.scores.tolist(), strict=True)
    ]
    auto = conf >= threshold if threshold is not None else np.zeros(len(conf), dtype=bool)
    out["decision"] = np.where(auto, DECISION_AUTO, DECISION_REVIEW)
    return pd.DataFrame(out)


#: What maps one chunk: (the kept rows' query texts, the kept rows) -> the output columns, one row per query.
ChunkMapper = Callable[[list[str], pd.DataFrame], pd.DataFrame]


def _chunks(
    mapper: TaxonomyMapper,
    paths: Sequence[str | Path],
    rejects: RejectSink,
    stats: MapStats,
    *,
    text: Sequence[str],
    fields: str,
    k: int,
    threshold: float | None,
    chunksize: int,
    keep: Sequence[str],
    id_column: str | None,
    on_rows: Callable[[int], None] | None,
    map_chunk: ChunkMapper | None = None,
) -> Iterator[pd.DataFrame]:
    text_fields: TextFields | None = None
    id_col: str | None = None
    for path in paths:
        read = ReadStats(str(path))
        for chunk in iter_catalogue(path, chunksize=chunksize, rejects=rejects, stats=read):
            columns = [str(c) for c in chunk.columns]
            if text_fields is None:  # once: the first file decides, every chunk keeps the same columns
                cols = (
                    [find_column(t, columns, str(path)) for t in text] if text else list(detect_text_columns(columns))
                )
                if not cols:
                    raise MissingColumnError(
                        "no title or description column found; name the text column(s) with --text",
                        source=str(path),
                        column="title",
                    )
                text_fields = TextFields(cols)
                stats.text_columns = cols
                id_col = find_column(id_column, columns, str(path)) if id_column else detect_id_column(columns)
                log.info("mapping by %s; product id column: %r", cols, id_col)
            if not text_fields.present(chunk.columns):
                raise MissingColumnError(
                    f"none of the text columns {list(text_fields.columns)} is in the file",
                    source=str(path),
                    column=text_fields.columns[0],
                )
            texts = text_fields.frame(chunk)
            empty = text_fields.blank(texts)
            reject_rows(rejects, chunk, empty, EMPTY_TEXT, source=str(path), column=text_fields.columns[0])
            kept = chunk.loc[~empty]
            queries = query_texts(texts.loc[~empty], fields)
            if map_chunk is not None:
                mapped = map_chunk(queries, kept)
            else:
                mapped = mapping_frame(mapper, queries, k=k, threshold=threshold)
            mapped.index = kept.index
            front_cols = dict.fromkeys(c for c in (SOURCE_COL, ROW_COL, id_col, *keep) if c is not None)
            front = kept[[c for c in front_cols if c in kept.columns]]
            result = pd.concat([front, mapped], axis=1)
            stats.rows_written += len(result)
            stats.auto_accepted += int((mapped["decision"] == DECISION_AUTO).sum())
            if on_rows is not None:
                on_rows(len(chunk))
            yield result.reset_index(drop=True)
        stats.rows_read += read.records


def map_files(
    data: str | Path | Sequence[str | Path],
    taxonomy: str | Path,
    out: str | Path,
    *,
    lang: str = "en",
    method: str = "hybrid",
    rerank: str = "hierarchical",
    threshold: float | None = None,
    k: int = 3,
    text: Sequence[str] = (),
    fields: str = "title",
    keep_columns: Sequence[str] = (),
    id_column: str | None = None,
    encoder: str | None = "auto",
    chunksize: int = 5000,
    rejects: str | Path | None = None,
    on_rows: Callable[[int], None] | None = None,
    mapper_options: dict[str, Any] | None = None,
    crosswalk: str | None = None,
    crosswalk_weight: float = 0.7,
    catalogue_prior: float = 0.0,
    llm_options: dict[str, Any] | None = None,
) -> MapStats:
    """Map every row of ``data`` (several files are concatenated) onto ``taxonomy`` (``shopify`` in ``lang``,
    ``google``, ``gs1`` or a file of paths) and write ``out`` (format from its suffix). Rows with no text are
    rejected to ``rejects`` (default ``<out>.rejects.jsonl``): rows read = rows written + rows rejected.

    ``text`` names the text columns (default: the title- and description-like ones); ``fields`` maps by the
    title only (default) or by all of them; ``encoder="auto"`` takes the packaged multilingual encoder for a
    taxonomy in another language or products in a non-Latin script, else MiniLM; ``threshold`` (default None:
    none) auto-accepts the rows whose ``path_score`` reaches it; ``mapper_options`` go to :class:`TaxonomyMapper`.
    ``crosswalk`` names the shop's own category column: its categories are mapped first and each row mixes its
    category's evidence in at ``crosswalk_weight`` (:mod:`skutag.workflows.map_crosswalk`; the table goes to
    ``OUT.crosswalk.csv``);
    ``catalogue_prior`` > 0 re-weights the leaves by the catalogue's EM prior raised to it (both: two passes);
    ``llm_options`` go to the :class:`~skutag.models.mapping.llm.LLMReranker` of ``rerank="llm"`` (whose local
    server stops at the end)."""
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold}")
    if fields not in FIELDS:
        raise ConfigError(f"fields must be one of {FIELDS}, not {fields!r}")
    source = load_taxonomy_source(taxonomy, lang)
    reranker = LLMReranker(**(llm_options or {})) if rerank == "llm" else rerank
    mapper = TaxonomyMapper(source, method=method, reranker=reranker, encoder=encoder, **(mapper_options or {}))
    stats = MapStats(taxonomy=source.name, categories=len(mapper.leaves), threshold=threshold)
    paths = [data] if isinstance(data, str | Path) else list(data)
    out = Path(out)
    reject_path = Path(rejects) if rejects is not None else out.with_name(out.name + ".rejects.jsonl")

    def rows(
        sink: RejectSink, counts: MapStats, bar: Callable[[int], None] | None, map_chunk: ChunkMapper | None = None
    ) -> Iterator[pd.DataFrame]:
        return _chunks(
            mapper,
            paths,
            sink,
            counts,
            text=text,
            fields=fields,
            k=k,
            threshold=threshold,
            chunksize=chunksize,
            keep=keep_columns,
            id_column=id_column,
            on_rows=bar,
            map_chunk=map_chunk,
        )

    if crosswalk or catalogue_prior > 0:  # two passes: skutag.workflows.map_crosswalk
        from skutag.workflows.map_crosswalk import map_two_pass

        with RejectSink(reject_path) as sink, closing_reranker(mapper.reranker):
            walk = map_two_pass(
                mapper,
                lambda first, into, fn: rows(into, MapStats() if first else stats, on_rows if first else None, fn),
                result_frame,
                out,
                sink,
                column=crosswalk or None,
                weight=crosswalk_weight,
                prior=catalogue_prior,
                k=k,
                threshold=threshold,
            )
            stats.crosswalk_categories, stats.crosswalk_auto_accepted, stats.crosswalk_file = walk
            stats.rows_rejected = sink.count
        stats.needs_review = stats.rows_written - stats.auto_accepted
        return stats
    with RejectSink(reject_path) as sink, closing_reranker(mapper.reranker):
        write_catalogue(rows(sink, stats, on_rows), out)
        stats.rows_rejected = sink.count
    stats.needs_review = stats.rows_written - stats.auto_accepted
    log.info("%d rows read, %d mapped, %d rejected", stats.rows_read, stats.rows_written, stats.rows_rejected)
    return stats
