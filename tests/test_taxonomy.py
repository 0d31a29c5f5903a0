"""Taxonomy: building from paths and tables, lookup, validation, JSON round trip."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skutag.datasets.paths import find_shared_data
from skutag.errors import TaxonomyError
from skutag.taxonomy import Taxonomy

PATHS = [("Food", "Fruit", "Apples"), ("Food", "Fruit", "Pears"), ("Food", "Dairy"), ("Toys", "Dolls", "Apples")]


def test_from_paths_structure() -> None:
    tax = Taxonomy.from_paths(PATHS)
    assert [n.name for n in tax.roots] == ["Food", "Toys"]
    assert tax.depth == 3
    fruit = tax.node("Food > Fruit")
    assert fruit.level == 2 and fruit.parent_id == "Food"
    assert sorted(n.name for n in tax.children("Food > Fruit")) == ["Apples", "Pears"]
    assert tax.path("Food > Fruit > Pears") == ("Food", "Fruit", "Pears")
    assert {n.id for n in tax.find("apples")} == {"Food > Fruit > Apples", "Toys > Dolls > Apples"}
    assert [n.id for n in tax.find("Apples", level=3) if n.parent_id == "Toys > Dolls"] == ["Toys > Dolls > Apples"]
    assert len(tax.leaves()) == 4


def test_valid_paths_reject_mixed_branches() -> None:
    tax = Taxonomy.from_paths(PATHS)
    assert tax.is_valid_path(["Food", "Fruit", "Apples"])
    assert tax.is_valid_path(["Food", "Dairy", None])  # missing trailing level ends the path
    assert not tax.is_valid_path(["Toys", "Fruit", "Apples"])  # level-1 of one branch, level-2 of another
    assert not tax.is_valid_path(["Food", "Dolls"])
    assert not tax.is_valid_path([])
    with pytest.raises(TaxonomyError, match="not in the taxonomy"):
        tax.id_of_path(["Toys", "Fruit"])


def test_from_frame_and_errors() -> None:
    frame = pd.DataFrame({"id": ["1", "2", "3"], "name": ["A", "B", "C"], "parent_id": [None, "1", "2"]})
    tax = Taxonomy.from_frame(frame)
    assert tax.node("3").level == 3 and tax.path("3") == ("A", "B", "C")
    assert list(tax.to_frame()["path"]) == ["A", "A > B", "A > B > C"]
    spaced = Taxonomy.from_frame(frame.assign(name=[" A", "B  ", "\tC\n"]))
    assert spaced.path("3") == ("A", "B", "C")
    with pytest.raises(TaxonomyError, match="empty name"):
        Taxonomy.from_frame(frame.assign(name=["A", "  ", "C"]))
    with pytest.raises(TaxonomyError, match="unknown parent"):
        Taxonomy.from_frame(pd.DataFrame({"id": ["1"], "name": ["A"], "parent_id": ["9"]}))
    with pytest.raises(TaxonomyError, match="cycle"):
        Taxonomy.from_frame(pd.DataFrame({"id": ["1", "2"], "name": ["A", "B"], "parent_id": ["2", "1"]}))
    with pytest.raises(TaxonomyError, match="duplicate"):
        Taxonomy.from_frame(pd.DataFrame({"id": ["1", "1"], "name": ["A", "B"], "parent_id": [None, None]}))
    with pytest.raises(TaxonomyError, match="lacks column"):
        Taxonomy.from_frame(pd.DataFrame({"id": ["1"]}))


@given(st.lists(st.lists(st.sampled_from("abcd"), min_size=1, max_size=4), min_size=1, max_size=30))
def test_round_trip_and_every_prefix_valid(paths: list[list[str]]) -> None:
    tax = Taxonomy.from_paths(paths)
    again = Taxonomy.from_dict(tax.to_dict())
    assert again.to_frame().equals(tax.to_frame())
    for p in paths:
        for i in range(1, len(p) + 1):
            assert again.is_valid_path(p[:i])


def test_published_taxonomy_google() -> None:
    if find_shared_data() is None:
        pytest.skip("shared data absent")
    tax = Taxonomy.from_file("google")
    assert len(tax) > 5000 and tax.depth == 7
    node = tax.find("Apparel & Accessories", level=1)[0]
    assert any(c.name == "Clothing" for c in tax.children(node.id))
    with pytest.raises(TaxonomyError, match="unknown taxonomy kind"):
        Taxonomy.from_file("nope")
