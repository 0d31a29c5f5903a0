"""Small real slices for the `skutag map` crosswalk and `skutag train --labels-from` tests: MWPD 2020 offers read
from ../shared/data at test time (never copied into the repository) and GS1 class paths as MWPD names them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skutag.datasets.paths import find_shared_data

LEVELS = ("lvl1", "lvl2", "lvl3")


def mwpd(split: str) -> list[dict[str, Any]]:
    """Every offer of an MWPD split (skips the test when the shared data is not there)."""
    root = find_shared_data()
    if root is None or not (root / "mwpd2020" / f"{split}.json").is_file():
        pytest.skip("shared data not available")
    with (root / "mwpd2020" / f"{split}.json").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def name_path(record: dict[str, Any]) -> str:
    """An offer's GS1 label as a path of names (``Clothing > Clothing > Upper Body Wear/Tops``)."""
    return " > ".join(str(record[lv]).split("_", 1)[1].replace("\ufffd", "-") for lv in LEVELS)


def class_taxonomy(directory: Path) -> Path:
    """A taxonomy file of the GS1 segment > family > class paths MWPD train uses (names only)."""
    path = directory / "gs1-classes.txt"
    path.write_text("\n".join(sorted({name_path(r) for r in mwpd("train")})) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
