"""Loaders for the real datasets in the shared data folder: each returns a DataFrame (+ a ColumnSpec)."""

from skutag.datasets.mwpd import load_mwpd
from skutag.datasets.pave import attribute_values, load_pave, pave_attributes
from skutag.datasets.superstore import load_superstore
from skutag.datasets.taobao import bio_spans, load_taobao, read_conll
from skutag.datasets.taxonomies import load_google_taxonomy, load_gs1_taxonomy, load_shopify_taxonomy

__all__ = [
    "attribute_values",
    "bio_spans",
    "load_google_taxonomy",
    "load_gs1_taxonomy",
    "load_mwpd",
    "load_pave",
    "load_shopify_taxonomy",
    "load_superstore",
    "load_taobao",
    "pave_attributes",
    "read_conll",
]
