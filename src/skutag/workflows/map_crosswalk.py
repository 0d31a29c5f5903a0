"""``skutag map --crosswalk COLUMN``: map a shop's own categories onto the taxonomy category by category
(:mod:`skutag.models.mapping.crosswalk`), then every product with its category's evidence; ``--catalogue-prior``
(with or without a crosswalk) re-weights the leaves by how often the whole catalogue seems to use them.

Two passes over the files: the first embeds the products and collects each shop category's evidence (the
progress bar counts it), the second re-reads the rows (no encoding) and writes them. Beside the output goes the
crosswalk table ``OUT.crosswalk.csv``: one row per shop category (normalised: case and spaces folded, ``>`` /
``>>`` / ``»`` / ``|`` read as level separators) with its products' count and its path, confidence and decision.
The output gains ``shop_category`` (the row's normalised category; empty: mapped on its own).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from skutag.catalogue.columns import find_column
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import SOURCE_COL
from skutag.catalogue.writer import write_catalogue
from skutag.log import get_logger
from skutag.models.mapping import TaxonomyMapper
from skutag.models.mapping.crosswalk import CrosswalkBuilder, CrosswalkTable
from skutag.store.tables import DECISION_AUTO, DECISION_REVIEW
from skutag.workflows.map import ChunkMapper, MapStats, _chunks, result_frame

log = get_logger(__name__)

#: The output column naming the row's (normalised) shop category.
SHOP_CATEGORY = "shop_category"


def crosswalk_path(out: str | Path) -> Path:
    """Where the crosswalk table of ``out`` goes: ``OUT.crosswalk.csv``."""
    out = Path(out)
    return out.with_name(out.name + ".crosswalk.csv")


def crosswalk_frame(table: CrosswalkTable, depth: int, threshold: float | None) -> pd.DataFrame:
    """The crosswalk table: shop category, the text it was retrieved by, its products, then the mapping columns."""
    front = pd.DataFrame({SHOP_CATEGORY: table.keys, "category_text": table.texts, "products": table.products})
    return pd.concat([front, result_frame(table.result, depth, threshold)], axis=1)


def map_crosswalk(
    mapper: TaxonomyMapper,
    paths: Sequence[str | Path],
    out: Path,
    rejects: Path,
    stats: MapStats,
    *,
    column: str | None,
    weight: float,
    prior: float = 0.0,
    text: Sequence[str],
    fields: str,
    k: int,
    threshold: float | None,
    chunksize: int,
    keep: Sequence[str],
    id_column: str | None,
    on_rows: Callable[[int], None] | None,
) -> MapStats:
    """Map ``paths`` to ``out`` through the crosswalk of shop category ``column`` (``weight``: how far a row
    follows its category's evidence, 1 = the category's path for every row) and with the catalogue prior at
    ``prior`` (0: none); ``column`` None: the prior only, no crosswalk table. Rejects go to ``rejects``."""
    builder = CrosswalkBuilder(mapper, group_weight=weight, prior_weight=prior)

    def categories(kept: pd.DataFrame) -> list[object]:
        if column is None:
            return [None] * len(kept)
        source = str(kept[SOURCE_COL].iloc[0]) if SOURCE_COL in kept.columns and len(kept) else "<input>"
        return kept[find_column(column, [str(c) for c in kept.columns], source)].tolist()

    def collect(queries: list[str], kept: pd.DataFrame) -> pd.DataFrame:
        builder.add(queries, categories(kept))
        return pd.DataFrame({"decision": [DECISION_REVIEW] * len(queries)})

    def rows(
        sink: RejectSink, stats: MapStats, on_rows: Callable[[int], None] | None, map_chunk: ChunkMapper
    ) -> Iterator[pd.DataFrame]:
        return _chunks(
            mapper,
            paths,
            sink,
            stats,
            text=text,
            fields=fields,
            k=k,
            threshold=threshold,
            chunksize=chunksize,
            keep=keep,
            id_column=id_column,
            on_rows=on_rows,
            map_chunk=map_chunk,
        )

    # first pass: evidence only; its rejects are counted again (and written) by the second pass
    for _ in rows(RejectSink(None, keep=0), MapStats(), on_rows, collect):
        pass
    table = builder.finish(k)
    if column is not None:
        frame = crosswalk_frame(table, mapper.depth, threshold)
        where = crosswalk_path(out)
        write_catalogue(frame, where)
        stats.crosswalk_categories = len(table.keys)
        stats.crosswalk_auto_accepted = int((frame["decision"] == DECISION_AUTO).sum())
        stats.crosswalk_file = str(where)
        log.info(
            "crosswalk: %d shop categories (%d products; %d without one) -> %s",
            len(table.keys),
            int(table.products.sum()),
            builder.rows - int(table.products.sum()),
            where,
        )

    def assign(queries: list[str], kept: pd.DataFrame) -> pd.DataFrame:
        prob, groups = builder.row_probabilities(len(queries))
        mapped = result_frame(mapper.map(queries, k=k, prob=prob), mapper.depth, threshold)
        keys = np.asarray([*table.keys, None], dtype=object)
        if column is not None:
            mapped.insert(0, SHOP_CATEGORY, keys[groups])  # -1 (none) picks the trailing None
        return mapped

    with RejectSink(rejects) as sink:
        write_catalogue(rows(sink, stats, None, assign), out)
        stats.rows_rejected = sink.count
    stats.needs_review = stats.rows_written - stats.auto_accepted
    log.info("%d rows read, %d mapped, %d rejected", stats.rows_read, stats.rows_written, stats.rows_rejected)
    return stats
