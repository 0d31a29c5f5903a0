"""The figures the issue quotes for MWPD 2020 train, reproduced by `inspect` on the real file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skutag.quality.checks import CHECKS
from skutag.workflows.inspect import inspect_catalogue

SHARED = Path(os.environ.get("SKUTAG_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
TRAIN = SHARED / "mwpd2020" / "train.json"
VALIDATION = SHARED / "mwpd2020" / "validation.json"


@pytest.fixture(scope="module")
def train_report(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if not TRAIN.exists():
        pytest.skip(f"MWPD data not found at {TRAIN}")
    out = tmp_path_factory.mktemp("mwpd-quality")
    # label_issues trains models (minutes on 10k rows): left to its own tests.
    fast = [c.name for c in CHECKS if c.name != "label_issues"]
    return inspect_catalogue([TRAIN], label=("lvl1", "lvl2", "lvl3"), out_dir=out, checks=fast), out


def test_issue_figures(train_report) -> None:  # type: ignore[no-untyped-def]
    report, _ = train_report
    assert report.rows == 10_012 and report.rejected_rows == 0
    # 529 titles carry U+FFFD (no other mojibake in titles).
    enc = report.result("encoding_damage").summary
    assert enc["titles_with_replacement_char"] == 529
    assert enc["damaged_titles"] == 529
    # "Duplicate titles" = redundant copies after case/space folding: 345 rows in 156 groups -> 189.
    # (Case-sensitive exact matching gives 186 copies in 153 groups.)
    dup = report.result("exact_duplicates").summary
    assert dup["duplicate_titles"] == 189
    assert dup["duplicate_rows"] == 345 and dup["duplicate_groups"] == 156
    # 10 duplicate-title groups conflict; every one of them conflicts at level 3 (2 also at level 1, 3 at level 2).
    conf = report.result("conflicting_labels").summary
    assert conf["conflicting_groups"] == 10
    assert conf["conflicting_groups:level_3"] == 10
    assert conf["conflicting_groups:level_1"] == 2 and conf["conflicting_groups:level_2"] == 3
    # 113 of the 281 level-3 classes present in train have < 5 examples.
    imb = report.result("class_imbalance").summary
    assert imb["rare_classes:level_3"] == 113
    assert imb["classes:level_3"] == 281


def test_report_files(train_report) -> None:  # type: ignore[no-untyped-def]
    _, out = train_report
    data = json.loads((out / "quality.json").read_text())
    assert data["checks"]["exact_duplicates"]["summary"]["duplicate_titles"] == 189
    html = (out / "quality.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert html.count("data:image/png;base64,") == 3 + 2 + 1  # 3 levels, 2 text columns, missingness


def test_train_and_validation_leakage() -> None:
    if not (TRAIN.exists() and VALIDATION.exists()):
        pytest.skip("MWPD data not found")
    report = inspect_catalogue(
        [TRAIN, VALIDATION], label=("lvl1", "lvl2", "lvl3"), out_dir=None, checks=["split_leakage"]
    )
    leak = report.result("split_leakage").summary
    # exact duplicate titles shared by train and validation
    assert leak["exact_leaking_groups"] == 111
    assert leak["pair:train/validation"] == leak["leaking_groups"]
