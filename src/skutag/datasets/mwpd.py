"""MWPD 2020 task 2 (JSON Lines, labelled with three GS1 GPC levels)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ColumnSpec
from skutag.datasets.paths import shared_file
from skutag.errors import ConfigError

MWPD_SPLITS = {
    "train": "train.json",
    "validation": "validation.json",
    "val": "validation.json",
    "dev": "validation.json",
}
MWPD_SPEC = ColumnSpec(text=("Name", "Description", "CategoryText"), label=("lvl1", "lvl2", "lvl3"), id="ID")


def mwpd_path(split: str = "train") -> Path:
    """Path of an MWPD split (``train`` or ``validation``) in the shared data folder."""
    if split not in MWPD_SPLITS:
        raise ConfigError(f"unknown MWPD split {split!r}; expected train or validation")
    return shared_file("mwpd2020", MWPD_SPLITS[split])


def load_mwpd(
    split: str = "train", *, path: str | Path | None = None, rejects: RejectSink | None = None
) -> tuple[pd.DataFrame, ColumnSpec]:
    """MWPD offers (ID, Name, Description, CategoryText, URL, lvl1..lvl3) and their column spec.

    Labels are kept as published (``CODE_Name``, e.g. ``64010100_Jewellery``).
    """
    df = read_catalogue(path if path is not None else mwpd_path(split), rejects=rejects)
    return df, MWPD_SPEC
