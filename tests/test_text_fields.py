"""The one rule from a row's fields (file row, stored or posted product) to a model's text columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from skutag.catalogue.fields import TextFields, field_text

MWPD = ("Name", "CategoryText", "URL")


def test_every_column_is_reached_under_its_own_name_or_its_api_field() -> None:
    f = TextFields(MWPD)
    assert f.names == ["name", "CategoryText", "URL"]
    want = ["Tea pot", "/kitchen/tea", "http://shop/tea-pot"]
    for row in (
        {"Name": "Tea pot", "CategoryText": "/kitchen/tea", "URL": "http://shop/tea-pot"},  # a file's row
        {"id": "a", "name": "Tea pot", "CategoryText": "/kitchen/tea", "URL": "http://shop/tea-pot"},  # API
        {"NAME": "Tea pot", "categorytext": "/kitchen/tea", "url": "http://shop/tea-pot"},  # any case
        {"id": "a", "name": "", "description": "", "Name": "Tea pot", "CategoryText": "/kitchen/tea",
         "URL": "http://shop/tea-pot"},
    ):  # fmt: skip
        assert f.values(row) == want
        assert f.values(f.product(f.values(row))) == want  # what the store keeps reads back the same
    assert f.product(want) == {"name": "Tea pot", "CategoryText": "/kitchen/tea", "URL": "http://shop/tea-pot"}


def test_description_reaches_only_a_description_like_column() -> None:
    # the bug of `predict --db`: the second column was stored as `description`, which CategoryText never reads
    assert TextFields(MWPD).values({"name": "x", "description": "/kitchen"}) == ["x", "", ""]
    assert TextFields(("Name", "Description")).values({"name": "x", "description": "d"}) == ["x", "d"]
    body = TextFields(("title", "body_html"))
    assert body.names == ["name", "description"]
    assert body.values({"name": "x", "description": "d"}) == ["x", "d"]
    assert body.values({"title": "t", "body html": "b"}) == ["t", "b"]


def test_an_alias_never_takes_another_columns_text() -> None:
    f = TextFields(("title", "Name"))  # the column called name takes the `name` field; title keeps its own
    assert f.names == ["title", "name"]
    assert f.values({"name": "n"}) == ["", "n"]
    assert f.values({"title": "t", "name": "n"}) == ["t", "n"]
    g = TextFields(("product_title", "item_name"))  # two title-like columns: `name` feeds the first alone
    assert g.values({"name": "n"}) == ["n", ""]


def test_the_first_field_with_text_wins_and_blanks_are_empty() -> None:
    f = TextFields(("Name", "Description"))
    assert f.values({"name": "  ", "Name": "real", "description": None}) == ["real", ""]
    assert f.values({"title": "from title", "name": ""}) == ["from title", ""]
    assert not f.has_text({"id": "x", "name": " \t", "description": float("nan"), "brand": "only a brand"})
    assert f.has_text({"id": "x", "description": "d"})
    assert field_text(None) is None and field_text(math.nan) is None and field_text(pd.NA) is None
    assert field_text(np.float64("nan")) is None and field_text("  ") is None and field_text(5) == "5"


def test_a_frame_and_its_rows_map_the_same() -> None:
    f = TextFields(MWPD)
    frame = pd.DataFrame(
        {
            "name": ["a", None, "", "d"],
            "NAME": ["x", "b", "c", None],
            "CategoryText": ["/c", np.nan, "  ", "/d"],
            "url": ["u1", "u2", None, ""],
            "_row": [1, 2, 3, 4],
        },
        index=[10, 11, 12, 13],
    )
    texts = f.frame(frame)
    assert list(texts.columns) == list(MWPD) and list(texts.index) == [10, 11, 12, 13]
    rows = frame.to_dict("records")
    assert texts.values.tolist() == [f.values(r) for r in rows] == f.frame(rows).values.tolist()
    assert texts.values.tolist()[0] == ["a", "/c", "u1"]  # `name` before `NAME`: the exact spelling of neither
    assert f.blank(texts).tolist() == [False, False, False, False]
    assert f.blank(f.frame(pd.DataFrame({"Name": ["", None], "URL": [" ", "u"]}))).tolist() == [True, False]
    assert f.present(["URL", "other"]) and not f.present(["Description", "_row"])


@pytest.mark.parametrize("columns", [("text",), ("Description", "Name"), ("URL",)])
def test_a_product_round_trips_through_its_fields(columns: tuple[str, ...]) -> None:
    f = TextFields(columns)
    values = [f"v{i}" for i in range(len(columns))]
    assert f.values(f.product(values)) == values
    assert f.frame([f.product(values)]).values.tolist() == [values]
