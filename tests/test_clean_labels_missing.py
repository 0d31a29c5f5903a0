"""Label normalisation, taxonomy codes and paths; missing-value detection and policies."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skutag.cleaning.labels import (
    normalize_labels,
    normalize_paths,
    parse_code_label,
    parse_path,
    split_code_labels,
)
from skutag.cleaning.missing import (
    MissingPolicy,
    apply_missing_policies,
    is_missing,
    parse_missing_policies,
)
from skutag.errors import ConfigError, MissingColumnError


def test_code_labels() -> None:
    assert parse_code_label("64010100_Jewellery") == ("64010100", "Jewellery")
    assert parse_code_label(" 65010000_Computers/Video  Games ") == ("65010000", "Computers/Video Games")
    assert parse_code_label("No code") == (None, "No code")
    df = split_code_labels(pd.Series(["64010100_Jewellery", "Foo_Bar", None]))
    assert df["code"].tolist()[0] == "64010100"
    assert df["code"].isna().tolist() == [False, True, True]
    assert df["name"].tolist()[:2] == ["Jewellery", "Foo_Bar"]


def test_paths() -> None:
    assert parse_path("A > B>C") == ["A", "B", "C"]
    assert parse_path("A / B", sep=" / ") == ["A", "B"]
    assert parse_path(" > A >> B > ") == ["A", "B"]
    out = normalize_paths(pd.Series(["A>B >  C", " > ", None]))
    assert out.tolist()[0] == "A > B > C"
    assert out.isna().tolist() == [False, True, True]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=30).filter(lambda s: all(not "\ud800" <= c <= "\udfff" for c in s)), max_size=5))
def test_label_and_path_normalisation_is_idempotent(values: list[str]) -> None:
    once = normalize_labels(values, case="lower")
    assert once.tolist() == normalize_labels(once, case="lower").tolist() or once.isna().all()
    p1 = normalize_paths(values)
    p2 = normalize_paths(p1)
    assert [x if x == x else None for x in p1.tolist()] == [x if x == x else None for x in p2.tolist()]


def test_label_case() -> None:
    s = pd.Series(["  Home  &  Garden ", "", None])
    assert normalize_labels(s).tolist()[0] == "Home & Garden"
    assert normalize_labels(s, case="lower").tolist()[0] == "home & garden"
    assert normalize_labels(s).isna().tolist() == [False, True, True]


def test_is_missing_placeholders() -> None:
    s = pd.Series(["x", "", "  ", "NULL", "None", "n/a", "NaN", None, "null value", "-"])
    assert is_missing(s).tolist() == [False, True, True, True, True, True, True, True, False, False]
    assert is_missing(s, placeholders={"-"})[-1]
    assert not is_missing(s, placeholders={"-"})[3]  # "NULL" no longer a placeholder


def test_parse_policies() -> None:
    p = parse_missing_policies("name=drop, description=fill:n,a, brand=flag")
    assert p == {
        "name": MissingPolicy("drop"),
        "description": MissingPolicy("fill", "n,a"),
        "brand": MissingPolicy("flag"),
    }
    assert parse_missing_policies("description=fill:")["description"] == MissingPolicy("fill", "")
    assert parse_missing_policies(None) == {}
    with pytest.raises(ConfigError):
        parse_missing_policies("name=explode")
    with pytest.raises(ConfigError):
        parse_missing_policies("name")


def test_apply_policies() -> None:
    df = pd.DataFrame({"name": ["a", "N/A", None, "b"], "desc": ["x", "null", "y", " "], "brand": [None, "B", "", "C"]})
    res = apply_missing_policies(df, parse_missing_policies("name=drop,desc=fill:?,brand=flag"))
    assert res.drop_mask.tolist() == [False, True, True, False]
    assert res.drop_column.tolist() == [None, "name", "name", None]
    assert res.frame["desc"].tolist() == ["x", "?", "y", "?"]
    assert res.frame["_missing_brand"].tolist() == [True, False, True, False]
    assert res.frame["brand"].isna().tolist() == [True, False, True, False]
    assert res.counts == {"missing:name": 2, "missing:desc": 2, "missing:brand": 2}
    with pytest.raises(MissingColumnError):
        apply_missing_policies(df, {"nope": MissingPolicy("drop")})
