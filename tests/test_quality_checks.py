"""Each quality check on tiny hand-made frames: it flags what it should and nothing else."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from skutag.catalogue.schema import ROW_COL, ColumnSpec
from skutag.errors import ConfigError
from skutag.quality.base import CheckResult
from skutag.quality.checks import CHECKS, get_check
from skutag.quality.checks.class_imbalance import check_class_imbalance
from skutag.quality.checks.conflicting_labels import check_conflicting_labels
from skutag.quality.checks.content_outliers import check_content_outliers
from skutag.quality.checks.encoding_damage import check_encoding_damage
from skutag.quality.checks.exact_duplicates import check_exact_duplicates
from skutag.quality.checks.html_remnants import check_html_remnants
from skutag.quality.checks.length_outliers import check_length_outliers
from skutag.quality.checks.missing_fields import check_missing_fields
from skutag.quality.checks.near_duplicates import check_near_duplicates
from skutag.quality.checks.split_leakage import check_split_leakage

TEXT = ColumnSpec(text=("title", "desc"))
LABELLED = ColumnSpec(text=("title",), label=("l1", "l2", "l3"))


def frame(**cols: list) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    df = pd.DataFrame(cols)
    df.insert(0, ROW_COL, np.arange(101, 101 + n))
    return df


def assert_well_formed(res: CheckResult, n: int) -> None:
    assert res.flags.shape == (n,) and res.flags.dtype == bool
    assert res.scores.shape == (n,)
    assert (res.scores[res.flags] > 0).all()
    assert len(res.examples) == min(10, res.n_flagged)
    json.dumps(res.to_json())


def test_missing_fields_counts_null_blank_and_placeholders() -> None:
    df = frame(title=["a", None, "  ", "N/A", "b"], desc=["x", "y", "null", "z", "w"])
    res = check_missing_fields(df, TEXT)
    assert_well_formed(res, 5)
    assert res.flags.tolist() == [False, True, True, True, False]
    assert res.details["per_column"]["title"] == {"missing": 1, "empty": 1, "placeholder": 1, "total": 3}
    assert res.details["per_column"]["desc"]["placeholder"] == 1
    assert res.scores[2] == 1.0  # both fields lacking
    assert ROW_COL not in res.details["per_column"]
    assert res.examples[0] == 103


def test_encoding_damage_finds_replacement_char_and_mojibake() -> None:
    df = frame(
        title=["Caf\ufffd latte", "CafÃ© crÃ¨me", "Café crème", "plain", None],
        desc=["ok", "ok", "bad \ufffd", "ok", "ok"],
    )
    res = check_encoding_damage(df, TEXT)
    assert_well_formed(res, 5)
    assert res.flags.tolist() == [True, True, True, False, False]
    assert res.summary["damaged_titles"] == 2
    assert res.summary["titles_with_replacement_char"] == 1
    assert res.summary["titles_with_mojibake"] == 1
    assert res.details["per_column"]["desc"]["replacement_char"] == 1


def test_encoding_damage_also_counts_label_columns() -> None:
    df = frame(title=["ok", "ok"], l1=["Fruit \ufffd Fresh", "Fruit"], l2=["a", "b"], l3=["x", "y"])
    res = check_encoding_damage(df, LABELLED)
    assert res.summary["damaged:l1"] == 1
    assert res.summary["damaged_titles"] == 0


def test_html_remnants_tags_and_entities_but_not_plain_comparisons() -> None:
    df = frame(
        title=["Shirt<br>blue", "Salt &amp; pepper", "AT&T phone", "size < 5 and > 2", "Tea &#39;s"],
        desc=["", "", "", "", "<p>hi</p>"],
    )
    res = check_html_remnants(df, TEXT)
    assert_well_formed(res, 5)
    assert res.flags.tolist() == [True, True, False, False, True]
    assert res.scores[4] == 3  # entity + two tags
    assert res.details["per_column"]["title"]["rows"] == 3


def test_exact_duplicates_ignore_case_and_spacing_not_empty_titles() -> None:
    df = frame(title=["Red Shoe", "red  shoe ", "RED SHOE", "Blue", "", "", "Blue"], desc=["a"] * 7)
    res = check_exact_duplicates(df, TEXT)
    assert_well_formed(res, 7)
    assert res.flags.tolist() == [True, True, True, True, False, False, True]
    assert res.summary["duplicate_titles"] == 3  # 2 redundant red shoes + 1 redundant blue
    assert res.summary["duplicate_rows"] == 5
    assert res.summary["duplicate_groups"] == 2
    assert res.details["largest_groups"][0] == {"title": "Red Shoe", "rows": 3}


def test_near_duplicates_group_close_titles() -> None:
    base = "Samsung Galaxy S21 Ultra 5G smartphone 256GB phantom black unlocked dual sim"
    df = frame(title=[base, base + " new", "Garden hose 30m green with spray nozzle and reel"], desc=["", "", ""])
    res = check_near_duplicates(df, TEXT, threshold=0.7)
    assert_well_formed(res, 3)
    assert res.flags.tolist() == [True, True, False]
    assert res.summary["near_only_rows"] == 2


def test_conflicting_labels_per_level_and_any_level() -> None:
    df = frame(
        title=["Mug", "mug", "Pen", "Pen", "Hat", "Hat", "Solo"],
        l1=["A", "A", "B", "B", "C", "D", "E"],
        l2=["A1", "A1", "B1", "B1", "C1", "D1", "E1"],
        l3=["x", "y", "p", "p", "h1", "h2", "s"],
    )
    res = check_conflicting_labels(df, LABELLED)
    assert_well_formed(res, 7)
    assert res.summary["conflicting_groups"] == 2
    assert res.summary["conflicting_groups:level_1"] == 1
    assert res.summary["conflicting_groups:level_3"] == 2
    assert res.summary["conflicting_rows"] == 4
    assert res.flags.tolist() == [True, True, False, False, True, True, False]
    assert res.scores[4] == 3 and res.scores[0] == 1
    listing = {g["title"]: g for g in res.details["exact_groups"]}
    assert listing["Mug"]["labels"] == ["A > A1 > x", "A > A1 > y"] and listing["Mug"]["levels"] == ["level_3"]
    assert listing["Hat"]["labels"] == ["C > C1 > h1", "D > D1 > h2"]
    assert listing["Hat"]["levels"] == ["level_1", "level_2", "level_3"]


def test_conflicting_labels_list_paths_that_stop_early() -> None:
    """Rows labelled to level 1 or 2 of three: the listing shows their paths, never an empty list."""
    df = frame(
        title=["Lamp", "lamp", "Rye", "Rye", "Rye", "Rye", "Oats", "Oats"],
        l1=["Home", "Garden", "Food", "Food", "Food", "Food", "Food", "Food"],
        l2=[None, None, "Bread", "Bread", "Cakes", None, "Cereal", None],
        l3=[None, None, None, "Rye bread", None, None, None, None],
    )
    res = check_conflicting_labels(df, LABELLED)
    listing = {g["title"]: g for g in res.details["exact_groups"]}
    assert listing["Lamp"]["labels"] == ["Garden", "Home"] and listing["Lamp"]["levels"] == ["level_1"]
    assert listing["Rye"]["labels"] == ["Food", "Food > Bread", "Food > Bread > Rye bread", "Food > Cakes"]
    assert listing["Rye"]["rows"] == 4 and listing["Rye"]["levels"] == ["level_2"]
    assert "Oats" not in listing  # a path that stops early agrees with a longer one


def test_conflicting_labels_without_labels_flags_nothing() -> None:
    df = frame(title=["a", "a"])
    assert check_conflicting_labels(df, ColumnSpec(text=("title",))).n_flagged == 0


def test_split_leakage_counts_groups_across_splits() -> None:
    df = frame(
        title=["One", "one", "Two", "Two", "Three", "Four"],
        split=["train", "test", "train", "train", "validation", "validation"],
    )
    spec = ColumnSpec(text=("title",), split="split")
    res = check_split_leakage(df, spec)
    assert_well_formed(res, 6)
    assert res.flags.tolist() == [True, True, False, False, False, False]
    assert res.summary["leaking_groups"] == 1
    assert res.summary["pair:test/train"] == 1
    assert res.summary["pair:train/validation"] == 0
    assert res.summary["rows_leaking:test"] == 1


def test_split_leakage_merges_near_groups() -> None:
    df = frame(title=["a", "b", "c"], split=["train", "test", "test"])
    spec = ColumnSpec(text=("title",), split="split")
    res = check_split_leakage(df, spec, near_groups=np.array([0, 0, 2]))
    assert res.flags.tolist() == [True, True, False]
    assert res.summary["exact_leaking_groups"] == 0


def test_class_imbalance_rare_classes_per_level() -> None:
    l3 = ["big"] * 10 + ["small"] * 4 + ["tiny"]
    df = frame(title=[f"t{i}" for i in range(15)], l1=["A"] * 15, l2=["B"] * 14 + ["C"], l3=l3)
    res = check_class_imbalance(df, LABELLED, min_count=5)
    assert_well_formed(res, 15)
    assert res.summary["rare_classes:level_3"] == 2
    assert res.summary["rare_classes:level_2"] == 1
    assert res.summary["rare_classes:level_1"] == 0
    assert res.summary["imbalance_ratio:level_3"] == 10.0
    assert res.n_flagged == 5
    assert res.examples[0] == 115  # the single-example class is the worst
    assert res.details["levels"]["level_3"]["counts"] == {"big": 10, "small": 4, "tiny": 1}


def test_length_outliers_flags_extreme_lengths_only() -> None:
    titles = [f"product title number {i:03d}" for i in range(40)] + ["x" * 500, ""]
    df = frame(title=titles)
    res = check_length_outliers(df, ColumnSpec(text=("title",)))
    assert_well_formed(res, 42)
    assert np.flatnonzero(res.flags).tolist() == [40]


def test_content_outliers_flag_garbage_titles() -> None:
    rng = np.random.default_rng(0)
    words = ["cotton", "shirt", "blue", "men", "slim", "fit", "long", "sleeve", "casual", "women", "dress", "red"]
    titles = [" ".join(rng.choice(words, size=5)) for _ in range(300)]
    titles[17] = "#### $$$$ 0000 9999 !!!! ???? %%%% ~~~~ ^^^^"
    titles[123] = "ÄÖÜ ÆØÅ ŒŸ ßẞ ÞÐ 1234567890 1234567890"
    df = frame(title=titles)
    res = check_content_outliers(df, ColumnSpec(text=("title",)), share=0.01)
    assert_well_formed(res, 300)
    assert res.n_flagged == 3
    assert {17, 123} <= set(np.flatnonzero(res.flags).tolist())


def test_content_outliers_tiny_input_flags_nothing() -> None:
    df = frame(title=["a", "b"])
    assert check_content_outliers(df, ColumnSpec(text=("title",))).n_flagged == 0


def test_registry_lists_every_check_with_requirements() -> None:
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names))
    assert {"missing_fields", "split_leakage", "class_imbalance", "label_issues"} <= set(names)
    assert get_check("class_imbalance").needs_labels
    assert get_check("split_leakage").needs_split
    df = frame(title=["a"])
    assert get_check("split_leakage").applicable(ColumnSpec(text=("title",)), df) is not None
    assert get_check("missing_fields").applicable(ColumnSpec(text=("title",)), df) is None
    with pytest.raises(ConfigError, match="unknown check"):
        get_check("nope")


def test_every_check_handles_an_empty_frame() -> None:
    df = frame(title=pd.Series([], dtype="str"), l1=[], l2=[], l3=[], split=[])
    spec = ColumnSpec(text=("title",), label=("l1", "l2", "l3"), split="split")
    for info in CHECKS:
        if info.name == "label_issues":
            continue
        res = info.run(df, spec)
        assert res.n_flagged == 0, info.name
