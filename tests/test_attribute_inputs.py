"""Attribute data in every layout users have, read with no conversion: WDC-PAVE, ExtractGPT ``target_scores``,
CoNLL/BIO (Taobao), one column per attribute (values placed by matching, the unmatched share reported), and
export-reviews' ``tags`` column; rejects counted; values normalised for comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from real_shaped import SHARED
from skutag.catalogue.rejects import RejectSink
from skutag.errors import ConfigError
from skutag.extraction.examples import locate
from skutag.extraction.inputs import read_attribute_data, read_tag_sets
from skutag.extraction.metrics import score_extractions
from skutag.extraction.normalise import normalise_value, value_key

PAVE = SHARED / "wdc-pave" / "raw"
TAOBAO = SHARED / "taobao-ner-zh"


def pave_rows(n: int) -> list[dict]:
    with (PAVE / "test.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh, strict=False)]


def test_normalised_values_compare_units_case_and_spacing() -> None:
    assert value_key("150 mm") == value_key("150mm") == value_key("150 MM")
    assert value_key("2.0GHz") == value_key("2.0 ghz")
    assert value_key("10 x 20 cm") == value_key("10x20cm")
    assert normalise_value("  Black  ") == "Black"
    # a code is not a quantity: its digits keep their letters
    assert normalise_value("435952-B21") == "435952-B21"
    assert normalise_value("Xeon E5335") == "Xeon E5335"
    assert value_key("150 mm") != value_key("15 mm")
    exact = score_extractions([{"Width": ["150 mm"]}], [{"Width": "150mm"}])
    normalised = score_extractions([{"Width": ["150 mm"]}], [{"Width": "150mm"}], key=value_key)
    assert (exact.f1, normalised.f1) == (0.0, 1.0)


def test_pave_layout(tmp_path: Path) -> None:
    data = read_attribute_data(PAVE / "test.jsonl")
    assert data.format == "pave"
    assert data.text_columns == ["input_title", "input_description"]
    assert data.group_column == "category"
    assert len(data.examples) == 354 and data.rows_rejected == 0
    first = data.examples[0]
    assert first.gold["Part Number"] == ["435952-B21"] and first.gold["Bus Speed"] == []  # n/a: asked, absent
    assert ("Part Number", 0, 10) in first.spans()
    assert data.schema() is not None and "Part Number" in data.schema()["Computers And Accessories"]  # type: ignore[index]
    assert data.unmatched_share() < 0.1  # the raw variant's values occur in the text


def test_extractgpt_layout_with_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "egpt.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for r in pave_rows(12):
            scores = {a: {v: 1 for v in vals} for a, vals in r["target_scores"].items()}
            fh.write(json.dumps({"input": r["input_title"], "category": r["category"], "target_scores": scores}) + "\n")
        fh.write(json.dumps({"input": "Acme kettle", "category": "x", "target_scores": "oops"}) + "\n")
        fh.write(json.dumps({"input": "", "category": "x", "target_scores": {}}) + "\n")
    sink = RejectSink()
    data = read_attribute_data(path, rejects=sink)
    assert data.format == "extractgpt" and data.text_columns == ["input"]
    assert len(data.examples) == 12 and data.rows_rejected == 2 == sink.count  # rows in = examples + rejected
    reasons = sorted(r.reason for r in sink.examples)
    assert reasons[0].startswith("empty text") and "target_scores" in reasons[1]
    assert {r.row for r in sink.examples} == {13, 14}


def test_conll_layout_reads_taobao_characters() -> None:
    data = read_attribute_data(TAOBAO / "dev.txt")
    assert data.format == "conll" and data.group_column is None
    assert set(data.attributes) >= {"HCCX", "HPPX"}
    ex = data.examples[0]
    for attr, s, e in ex.spans():
        assert ex.text[s:e] in ex.gold[attr]


def test_one_column_per_attribute_reports_unmatched_values(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "title": ["Acme Kettle 1.7 l steel black", "Zed toaster red", "Acme mug", "Nothing here"],
            "description": ["A kettle.", "Two slots.", "", ""],
            "Brand": ["Acme", "Zed", "Acme", "Orca"],  # Orca occurs nowhere
            "Colour": ["black", "Red", "", "n/a"],
        }
    )
    rows.to_csv(tmp_path / "cat.csv", index=False)
    data = read_attribute_data(tmp_path / "cat.csv", attributes=["Brand", "Colour"])
    assert data.format == "columns" and data.text_columns == ["title", "description"]
    assert data.matching == {"Brand": (3, 1), "Colour": (2, 0)}
    assert data.unmatched_share() == pytest.approx(1 / 6)
    assert data.examples[2].gold == {"Brand": ["Acme"], "Colour": []}
    assert ("Colour", 12, 15) in data.examples[1].spans()  # "red" found whatever its case
    with pytest.raises(ConfigError, match="--attributes"):
        read_attribute_data(tmp_path / "cat.csv")


def test_exported_reviews_keep_their_spans(tmp_path: Path) -> None:
    tags = {
        "Brand": {"value": "Acme", "field": "name", "start": 0, "end": 4, "source": "review"},
        "Colour": {"value": "black", "field": "description", "start": 2, "end": 7},
        "vegan": {"value": "vegan", "kind": "tag"},
    }
    pd.DataFrame(
        [{"id": "1", "name": "Acme kettle", "description": "A black one", "tags": json.dumps(tags), "level_1": "K"}]
    ).to_csv(tmp_path / "reviews.csv", index=False)
    data = read_attribute_data(tmp_path / "reviews.csv")
    ex = data.examples[0]
    assert data.format == "reviews" and ex.gold == {"Brand": ["Acme"], "Colour": ["black"]}
    assert sorted(ex.spans()) == [("Brand", 0, 4), ("Colour", 14, 19)]
    assert ex.text[14:19] == "black"
    assert locate(["name", "description"], ["Acme kettle", "A black one"], 14, 19) == ("description", 2, 7)


def test_tag_sets(tmp_path: Path) -> None:
    pd.DataFrame(
        {"title": ["vegan soap", "gift mug", "plain cup"], "labels": ["vegan|gift idea", '["gift idea"]', ""]}
    ).to_csv(tmp_path / "t.csv", index=False)
    fields, tags, cols, rejected = read_tag_sets(tmp_path / "t.csv", "labels")
    assert tags == [["gift idea", "vegan"], ["gift idea"], []] and cols == ["title"] and rejected == 0
    assert fields[0] == {"title": "vegan soap"}
