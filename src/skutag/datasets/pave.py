"""WDC-PAVE: offers with annotated attribute values (raw = verbatim in the text, normalized = canonical)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ColumnSpec
from skutag.datasets.paths import shared_file
from skutag.errors import ConfigError

PAVE_SPLITS = ("train_large", "test")
PAVE_VARIANTS = ("raw", "normalized")
PAVE_SPEC = ColumnSpec(text=("input_title", "input_description"), label=("category",), id="id")
NA_VALUE = "n/a"


def pave_path(split: str = "train_large", variant: str = "raw") -> Path:
    """Path of a WDC-PAVE split (``train_large``/``train`` or ``test``) in variant ``raw`` or ``normalized``."""
    split = "train_large" if split == "train" else split
    if split not in PAVE_SPLITS:
        raise ConfigError(f"unknown WDC-PAVE split {split!r}; expected one of {PAVE_SPLITS}")
    if variant not in PAVE_VARIANTS:
        raise ConfigError(f"unknown WDC-PAVE variant {variant!r}; expected one of {PAVE_VARIANTS}")
    return shared_file("wdc-pave", variant, f"{split}.jsonl")


def load_pave(
    split: str = "train_large",
    variant: str = "raw",
    *,
    path: str | Path | None = None,
    rejects: RejectSink | None = None,
) -> tuple[pd.DataFrame, ColumnSpec]:
    """WDC-PAVE offers (id, cluster_id, category, input_title, input_description, target_scores, url).

    ``target_scores`` stays a dict per offer; see :func:`attribute_values`. Titles keep the literal
    ``Null`` the publisher left in them (cleaning is not the loader's job).
    """
    df = read_catalogue(path if path is not None else pave_path(split, variant), rejects=rejects)
    return df, PAVE_SPEC


def attribute_values(target_scores: Any) -> dict[str, list[str]]:
    """``{attribute: [values]}`` of one offer's ``target_scores``, leaving out attributes marked ``n/a``."""
    out: dict[str, list[str]] = {}
    if not isinstance(target_scores, dict):
        return out
    for attr, values in target_scores.items():
        if not isinstance(values, dict):
            continue
        vals = [str(v) for v in values if v != NA_VALUE]
        if vals:
            out[str(attr)] = vals
    return out


def pave_attributes(df: pd.DataFrame) -> list[dict[str, list[str]]]:
    """:func:`attribute_values` for every offer of a loaded WDC-PAVE frame."""
    return [attribute_values(ts) for ts in df["target_scores"].tolist()]
