"""The feedback loop: skutag predict --db fills the review queue, reviews are exported, skutag train reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from conftest_store import small_model_dir, validation_rows
from skutag.cli.main import app
from skutag.models.registry import load_model
from skutag.store import TagStore

runner = CliRunner()


def test_predict_db_review_export_train(tmp_path: Path) -> None:
    model_dir = small_model_dir()
    rows = validation_rows(30)
    frame = pd.DataFrame(
        [{"ID": r["id"], "Name": r["name"], "Description": r["description"]} for r in rows]
        + [{"ID": "blank", "Name": "", "Description": "  "}]
    )
    data = tmp_path / "nightly.csv"
    frame.to_csv(data, index=False)
    db = f"sqlite:///{tmp_path / 'tags.db'}"

    res = runner.invoke(app, ["predict", str(model_dir), str(data), "--db", db])
    assert res.exit_code == 0, res.output
    assert "30 rows stored" in res.output and "1 rejected" in res.output
    res = runner.invoke(app, ["predict", str(model_dir), str(data)])
    assert res.exit_code == 2 and "--out" in res.output

    with TagStore(db) as store:
        counts = store.counts()
        assert counts["products"] == 30 and counts["predictions"] == 30  # rows in = stored + rejected
        queue = store.review_queue(limit=100)
        assert {q["id"] for q in queue} <= {r["id"] for r in rows}
        item = store.product(rows[0]["id"])
        assert item["name"] == rows[0]["name"] and item["prediction"]["model_version"].startswith("linear-")
        products = [store.product(r["id"]) for r in rows[:6]]
        for p in products[:3]:
            store.review(p["id"], action="accept", reviewer="ann")
        new_path = ["63000000_Footwear", "63010000_Footwear", "63010100_Footwear"]
        for p in products[3:]:
            store.review(p["id"], action="correct", reviewer="bob", path=new_path)
        store.review(products[0]["id"], action="edit_tags", reviewer="ann", tags={"colour": "black"})

    out = tmp_path / "reviewed.jsonl"
    res = runner.invoke(app, ["export-reviews", "--db", db, "--out", str(out)])
    assert res.exit_code == 0, res.output
    exported = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(exported) == 6
    by_id = {e["id"]: e for e in exported}
    assert by_id[products[3]["id"]]["path"] == " > ".join(new_path)
    assert json.loads(by_id[products[0]["id"]]["tags"]) == {"colour": "black"}
    assert by_id[products[0]["id"]]["path"] == " > ".join(products[0]["prediction"]["path"])

    retrained = tmp_path / "retrained"
    res = runner.invoke(
        app,
        ["train", str(out), "--label", "level_1,level_2,level_3", "--params", '{"n_jobs": 1}', "--out", str(retrained)],
    )
    assert res.exit_code == 0, res.output
    model = load_model(retrained)
    assert model.text_columns_[0] == "name"
    assert "63000000_Footwear" in model.card_["label_set"]["level_1"]


def test_export_reviews_cli_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["export-reviews", "--db", str(tmp_path / "empty.db"), "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "no reviewed products" in res.output
    # one line whatever the path's length (the console width must not split the message), brackets kept
    deep = tmp_path / ("a-long-folder-name-[v2]" * 4)
    deep.mkdir()
    res = runner.invoke(app, ["export-reviews", "--db", str(deep / "empty.db"), "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert f"{deep / 'empty.db'}: no reviewed products" in res.output
    res = runner.invoke(app, ["serve", str(tmp_path / "no-model")])
    assert res.exit_code == 2 and "no such model directory" in res.output
