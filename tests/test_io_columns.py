"""Column specs: resolution, suggestions, auto-detection, and label/text helpers."""

from __future__ import annotations

import pandas as pd
import pytest

from skutag.catalogue.columns import detect_text_columns, label_frame, label_tags, parse_tags, resolve_spec, text_series
from skutag.catalogue.schema import ROW_COL, SOURCE_COL, ColumnSpec
from skutag.errors import ConfigError, MissingColumnError


def test_resolve_exact_and_case_insensitive() -> None:
    spec = resolve_spec(["Name", "Description", "lvl1", "lvl2", "ID"], text=["name"], label=["LVL1", "lvl2"], id="id")
    assert spec.text == ("Name",) and spec.label == ("lvl1", "lvl2") and spec.id == "ID"


def test_missing_column_names_it_lists_and_suggests() -> None:
    with pytest.raises(MissingColumnError) as exc:
        resolve_spec(["title", "description", "category"], text=["title"], label=["categroy"], source="x.csv")
    msg = str(exc.value)
    assert exc.value.column == "categroy" and exc.value.source == "x.csv"
    assert "'title', 'description', 'category'" in msg and "did you mean 'category'" in msg


def test_missing_column_without_close_match() -> None:
    with pytest.raises(MissingColumnError) as exc:
        resolve_spec(["title"], label=["zzz"])
    assert "did you mean" not in str(exc.value) and "'title'" in str(exc.value)


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["sku", "Product Title", "Body HTML", "price"], ("Product Title", "Body HTML")),
        (["Name", "Description", "CategoryText"], ("Name", "Description")),
        (["item_name", "x"], ("item_name",)),
        (["input_title", "input_description"], ("input_title", "input_description")),
        (["desc", "TITLE"], ("TITLE", "desc")),
        ([ROW_COL, SOURCE_COL, "title"], ("title",)),
    ],
)
def test_auto_detect_text(columns: list[str], expected: tuple[str, ...]) -> None:
    assert detect_text_columns(columns) == expected
    assert resolve_spec(columns).text == expected


def test_no_text_column_is_a_clear_error() -> None:
    with pytest.raises(MissingColumnError, match="no text column"):
        resolve_spec(["sku", "price"])


def test_inconsistent_options() -> None:
    with pytest.raises(ConfigError):
        resolve_spec(["t", "a", "b"], text=["t"], label=["a", "b"], label_tags=True)
    with pytest.raises(ConfigError):
        resolve_spec(["t", "a", "b"], text=["t"], label=["a", "b"], label_sep=">")


def test_label_frame_from_path_column() -> None:
    df = pd.DataFrame({"t": ["x", "y", "z", "w"], "cat": ["A > B > C", " A>B ", None, "  "]}, index=[5, 6, 7, 8])
    spec = resolve_spec(df.columns, text=["t"], label=["cat"], label_sep=">")
    lf = label_frame(df, spec)
    assert list(lf.columns) == ["level_1", "level_2", "level_3"] and list(lf.index) == [5, 6, 7, 8]
    assert lf.loc[5].tolist() == ["A", "B", "C"]
    assert lf.loc[6].tolist() == ["A", "B", None]
    assert lf.loc[7].tolist() == [None, None, None] and lf.loc[8].tolist() == [None, None, None]


def test_label_frame_from_level_columns() -> None:
    df = pd.DataFrame({"t": ["x", "y"], "l1": [" A ", None], "l2": ["B", ""]})
    lf = label_frame(df, ColumnSpec(text=("t",), label=("l1", "l2")))
    assert lf.to_dict("list") == {"level_1": ["A", None], "level_2": ["B", None]}


def test_label_frame_errors() -> None:
    df = pd.DataFrame({"t": ["x"]})
    with pytest.raises(ConfigError):
        label_frame(df, ColumnSpec(text=("t",)))
    with pytest.raises(MissingColumnError):
        label_frame(df, ColumnSpec(text=("t",), label=("nope",)))


def test_label_tags_json_and_separator() -> None:
    df = pd.DataFrame({"t": ["a"] * 5, "tags": ['["red", "xl", "red"]', "red| xl |", None, ["a", " b "], "[broken"]})
    spec = ColumnSpec(text=("t",), label=("tags",), label_sep="|", label_tags=True)
    assert label_tags(df, spec) == [["red", "xl"], ["red", "xl"], [], ["a", "b"], ["[broken"]]
    assert parse_tags("a, b,,c") == ["a", "b", "c"]


def test_text_series_joins_and_skips_missing() -> None:
    df = pd.DataFrame({"title": ["Red shoe", None, " ", "Hat"], "desc": ["Leather", "Only desc", None, float("nan")]})
    s = text_series(df, ColumnSpec(text=("title", "desc")))
    assert s.tolist() == ["Red shoe | Leather", "Only desc", "", "Hat"]
    assert text_series(df, ColumnSpec(text=("title", "desc")), sep=" ").iloc[0] == "Red shoe Leather"
