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

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from skutag.catalogue.columns import find_column
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import SOURCE_COL
from skutag.catalogue.writer import write_catalogue
from skutag.log import get_logger
from skutag.models.mapping import MapResult, TaxonomyMapper
from skutag.models.mapping.crosswalk import CrosswalkBuilder
from skutag.store.tables import DECISION_AUTO, DECISION_REVIEW

log = get_logger(__name__)

#: The output column naming the row's (normalised) shop category.
SHOP_CATEGORY = "shop_category"


def crosswalk_path(out: str | Path) -> Path:
    """Where the crosswalk table of ``out`` goes: ``OUT.crosswalk.csv``."""
    out = Path(out)
    return out.with_name(out.name + ".crosswalk.csv")


#: One pass over the input: (first pass?, the reject sink, what maps each chunk) -> the output chunks.
Rows = Callable[[bool, RejectSink, Callable[[list[str], pd.DataFrame], pd.DataFrame]], Iterator[pd.DataFrame]]
#: A mapper's result -> the output columns (``skutag.workflows.map.result_frame``).
Frame = Callable[[MapResult, TaxonomyMapper, float | None], pd.DataFrame]


def map_two_pass(
    mapper: TaxonomyMapper,
    rows: Rows,
    frame: Frame,
    out: Path,
    sink: RejectSink,
    *,
    column: str | None,
    weight: float,
    prior: float,
    k: int,
    threshold: float | None,
) -> tuple[int, int, str | None]:
    """Map the rows ``rows`` yields to ``out`` through the crosswalk of shop category ``column`` (``weight``: how
    far a row follows its category's evidence, 1 = the category's path for every row) and with the catalogue
    prior at ``prior`` (0: none); ``column`` None: the prior only, no crosswalk table. The first pass's rejects
    go nowhere (the second pass meets the same rows and writes them to ``sink``). Returns the shop categories,
    how many were auto-accepted, and the crosswalk table's path (None without ``column``)."""
    builder = CrosswalkBuilder(mapper, group_weight=weight, prior_weight=prior)

    def categories(kept: pd.DataFrame) -> list[object]:
        if column is None:
            return [None] * len(kept)
        source = str(kept[SOURCE_COL].iloc[0]) if SOURCE_COL in kept.columns and len(kept) else "<input>"
        return kept[find_column(column, [str(c) for c in kept.columns], source)].tolist()

    def collect(queries: list[str], kept: pd.DataFrame) -> pd.DataFrame:
        builder.add(queries, categories(kept))
        return pd.DataFrame({"decision": [DECISION_REVIEW] * len(queries)})

    for _ in rows(True, RejectSink(None, keep=0), collect):
        pass
    table = builder.finish(k)
    where, auto = None, 0
    if column is not None:
        front = pd.DataFrame({SHOP_CATEGORY: table.keys, "category_text": table.texts, "products": table.products})
        crosswalk = pd.concat([front, frame(table.result, mapper, threshold)], axis=1)
        where = crosswalk_path(out)
        write_catalogue(crosswalk, where)
        auto = int((crosswalk["decision"] == DECISION_AUTO).sum())
        log.info(
            "crosswalk: %d shop categories (%d products; %d without one) -> %s",
            len(table.keys),
            int(table.products.sum()),
            builder.rows - int(table.products.sum()),
            where,
        )
    keys = np.asarray([*table.keys, None], dtype=object)

    def assign(queries: list[str], kept: pd.DataFrame) -> pd.DataFrame:
        prob, groups = builder.row_probabilities(len(queries))
        mapped = frame(mapper.map(queries, k=k, prob=prob), mapper, threshold)
        if column is not None:
            mapped.insert(0, SHOP_CATEGORY, keys[groups])  # -1 (none) picks the trailing None
        return mapped

    write_catalogue(rows(False, sink, assign), out)
    return len(table.keys), auto, None if where is None else str(where)
