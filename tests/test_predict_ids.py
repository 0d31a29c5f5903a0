"""`skutag predict` output carries the product id without being asked: a detected id column (id, sku,
Product ID, uniq_id ...) is copied in front of the predictions; `--keep` adds more, `--id-column` names it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from skutag.catalogue.columns import detect_id_column
from skutag.cli.main import app
from test_model_data import synthetic

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ids")
    synthetic(200, seed=5).to_csv(d / "train.csv", index=False)
    res = runner.invoke(
        app, ["train", str(d / "train.csv"), "--text", "title", "--label", "lvl1,lvl2,lvl3", "--out", str(d / "m")]
    )
    assert res.exit_code == 0, res.output
    return d / "m"


def predict(model_dir: Path, frame: pd.DataFrame, name: str, *options: str) -> pd.DataFrame:
    src = model_dir.parent / f"{name}.csv"
    frame.to_csv(src, index=False)
    out = model_dir.parent / f"{name}.pred.csv"
    res = runner.invoke(app, ["predict", str(model_dir), str(src), "--out", str(out), *options])
    assert res.exit_code == 0, res.output
    return pd.read_csv(out, dtype=str)


def test_id_like_columns_are_detected() -> None:
    assert detect_id_column(["title", "ID", "lvl1"]) == "ID"  # MWPD
    assert detect_id_column(["Row ID", "Order ID", "Product ID", "Product Name"]) == "Product ID"  # Superstore
    assert detect_id_column(["uniq_id", "product_name", "description"]) == "uniq_id"  # Flipkart
    assert detect_id_column(["SKU", "Title"]) == "SKU"
    assert detect_id_column(["title", "description", "price"]) is None
    assert detect_id_column(["_row", "title"]) is None


def test_the_id_column_is_kept_by_default(model_dir: Path) -> None:
    rows = pd.DataFrame({"Product ID": ["A-1", "A-2", "A-3"], "title": ["gala apple", "chef knife", "chess set"]})
    pred = predict(model_dir, rows, "superstore_like")
    assert pred.columns[:3].tolist() == ["_source", "_row", "Product ID"]
    assert pred["Product ID"].tolist() == ["A-1", "A-2", "A-3"] and "path" in pred.columns


def test_keep_adds_columns_after_the_id(model_dir: Path) -> None:
    rows = pd.DataFrame({"uniq_id": ["u1", "u2"], "title": ["brie", "wok"], "brand": ["x", "y"]})
    pred = predict(model_dir, rows, "keep", "--keep", "brand,uniq_id")
    assert pred.columns[:4].tolist() == ["_source", "_row", "uniq_id", "brand"]  # the id once, first
    assert pred["brand"].tolist() == ["x", "y"]


def test_id_column_names_another_one_and_none_is_fine(model_dir: Path) -> None:
    rows = pd.DataFrame({"id": ["1", "2"], "ean": ["400", "401"], "title": ["brie", "wok"]})
    pred = predict(model_dir, rows, "named", "--id-column", "EAN")
    assert pred.columns[:3].tolist() == ["_source", "_row", "ean"] and "id" not in pred.columns
    plain = predict(model_dir, rows.drop(columns=["id", "ean"]), "no_id")
    assert plain.columns[:3].tolist() == ["_source", "_row", "path"]


def test_an_id_column_that_is_not_there_is_one_clear_error(model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    pd.DataFrame({"title": ["brie"]}).to_csv(src, index=False)
    res = runner.invoke(
        app, ["predict", str(model_dir), str(src), "--out", str(tmp_path / "p.csv"), "--id-column", "sku"]
    )
    assert res.exit_code == 2 and "sku" in res.output and "Traceback" not in res.output
