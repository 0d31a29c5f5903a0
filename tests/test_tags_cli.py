"""Tags and attributes through the doors a user takes: ``skutag train --model extractor|tags``, ``evaluate``,
``predict`` and the served ``/v1/tag``, on real WDC-PAVE and Taobao rows, in each input layout.

The span tagger here is the character CRF (``--params '{"tagger": "crf"}'``; seconds to train) except where the
fine-tuned extractor's own path is the point (a tiny random encoder keeps that fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from real_shaped import SHARED
from skutag.cli.main import app
from skutag.models.bundle import load_bundle
from skutag.serving.tagger import load_served_model

PAVE = SHARED / "wdc-pave" / "raw"
TAOBAO = SHARED / "taobao-ner-zh"
CRF = json.dumps({"tagger": "crf", "max_iterations": 30})
runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def head(src: Path, dst: Path, n: int, step: int = 1) -> Path:
    """Every ``step``-th of the first ``n * step`` lines (WDC-PAVE's files are sorted by category)."""
    with src.open(encoding="utf-8") as fh:
        lines = fh.readlines()[: n * step : step]
    dst.write_text("".join(lines), encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def pave(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pave")
    return {
        "train": head(PAVE / "train_large.jsonl", d / "train.jsonl", 300, step=3),
        "test": PAVE / "test.jsonl",
        "dir": d,
    }


@pytest.fixture(scope="module")
def model(pave: dict[str, Path]) -> Path:
    out = pave["dir"] / "model"
    output = cli("train", pave["train"], "--model", "extractor", "--text", "input_title", "--params", CRF, "--out", out)
    assert "trained crf-extractor on 300 rows (0 rejected)" in output
    return out


def test_pave_train_evaluate_predict(model: Path, pave: dict[str, Path], tmp_path: Path) -> None:
    output = cli("evaluate", model, pave["test"], "--out", tmp_path / "ev")
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())["attributes"]
    assert metrics["rows"] == 354
    assert 0.3 < metrics["exact"]["f1"] <= metrics["normalised"]["f1"] < 1.0
    assert f"F1 {metrics['exact']['f1']:.4f}" in output
    per_attr = pd.read_csv(tmp_path / "ev" / "per_attribute.csv")
    assert {"attribute", "support", "f1_exact", "f1_normalised"} <= set(per_attr.columns)
    assert "Attribute values" in (tmp_path / "ev" / "report.html").read_text()

    cli("predict", model, pave["test"], "--out", tmp_path / "p.jsonl")
    rows = pd.read_json(tmp_path / "p.jsonl", lines=True)
    source = pd.read_json(pave["test"], lines=True)
    assert len(rows) == 354 and "tags" in rows.columns
    schema = load_bundle(model).attributes.tagger.schema_  # type: ignore[union-attr]
    found = 0
    for tags, (_, offer) in zip(rows["tags"], source.iterrows(), strict=True):
        tags = json.loads(tags) if isinstance(tags, str) else tags
        for attr, entry in tags.items():
            assert entry["field"] == "name"  # the title, stored as a product's name
            assert offer["input_title"][entry["start"] : entry["end"]] == entry["text"], (attr, entry)
            assert 0.0 <= entry["confidence"] <= 1.0 and entry["value"]
            assert attr in schema[offer["category"]]  # only attributes of the offer's category
            found += 1
    assert found > 300


def test_extractgpt_file_and_one_column_per_attribute(pave: dict[str, Path], tmp_path: Path) -> None:
    rows = [json.loads(line) for line in pave["train"].read_text().splitlines()]
    egpt = tmp_path / "egpt.json"
    egpt.write_text(
        json.dumps(
            [
                {
                    "input": r["input_title"],
                    "category": r["category"],
                    "target_scores": {a: {v: 1 for v in vals} for a, vals in r["target_scores"].items()},
                }
                for r in rows
            ]
        )
    )
    cli("train", egpt, "--model", "extractor", "--params", CRF, "--out", tmp_path / "m1")
    cli("evaluate", tmp_path / "m1", egpt, "--out", tmp_path / "ev1")
    assert json.loads((tmp_path / "ev1" / "metrics.json").read_text())["attributes"]["exact"]["f1"] > 0.5

    table = pd.DataFrame(
        {
            "title": [r["input_title"] for r in rows],
            "Brand": [next((v for v in r["target_scores"].get("Brand", {}) if v != "n/a"), "") for r in rows],
            "Product Type": [
                next((v for v in r["target_scores"].get("Product Type", {}) if v != "n/a"), "") for r in rows
            ],
        }
    )
    table["category"] = [r["category"] for r in rows]
    table.to_csv(tmp_path / "cat.csv", index=False)
    # the category model and the extractor trained together, into one directory
    params = json.dumps({"attributes": json.loads(CRF)})
    output = cli(
        "train", tmp_path / "cat.csv", "--label", "category", "--attributes", "Brand,Product Type", "--params", params,
        "--out", tmp_path / "m2",
    )  # fmt: skip
    assert "trained linear" in output and "trained crf-extractor" in output
    assert "occur nowhere in the text" in output  # descriptions are left out: some values are not in the title
    bundle = load_bundle(tmp_path / "m2")
    assert bundle.category is not None and bundle.attributes is not None
    output = cli("evaluate", tmp_path / "m2", tmp_path / "cat.csv", "--out", tmp_path / "ev2")
    metrics = json.loads((tmp_path / "ev2" / "metrics.json").read_text())
    assert metrics["level_1"]["accuracy"] > 0.8  # categories and attributes scored in one run
    assert {r["attribute"] for r in metrics["attributes"]["exact"]["per_attribute"]} == {"Brand", "Product Type"}
    assert "level_1: accuracy" in output and "attributes (exact)" in output


def test_category_model_and_extractor_in_one_directory_served(pave: dict[str, Path], tmp_path: Path) -> None:
    """The extractor first, the category model added later (the part is kept), served together."""
    out = tmp_path / "both"
    cli("train", pave["train"], "--model", "extractor", "--text", "input_title", "--params", CRF, "--out", out)
    with pytest.raises(Exception, match="no category model"):
        load_served_model(out, target_precision=0.9)
    cli("train", pave["train"], "--label", "category", "--out", out)
    bundle = load_bundle(out)
    assert bundle.category is not None and bundle.attributes is not None
    served = load_served_model(out, target_precision=0.9)
    from fastapi.testclient import TestClient

    from skutag.serving.app import create_app
    from skutag.serving.settings import ServeSettings

    settings = ServeSettings(
        model_dir=out, worker_process=False, target_precision=0.9, db_url=f"sqlite:///{tmp_path}/tags.db"
    )
    title = "Benchmark Standard Comfort-Fit Wedding band LCF15018KW"
    with TestClient(create_app(settings)) as client:
        info = client.get("/v1/models").json()["models"][0]
        assert info["has_tags"] and "Brand" in info["attributes"] and info["version"] == served.version
        answer = client.post("/v1/tag", json={"products": [{"id": "a", "name": title, "category": "Jewelry"}]})
        assert answer.status_code == 200, answer.text
        result = answer.json()["results"][0]
        assert result["path"] == ["Jewelry"]
        tags = result["tags"]
        assert tags, result
        for entry in tags.values():
            assert title[entry["start"] : entry["end"]] == entry["text"] and entry["field"] == "name"
            assert entry["decision"] in ("auto", "review")
        # without a category field, the predicted category picks the attributes asked
        answer = client.post("/v1/tag", json={"products": [{"id": "b", "name": title}]})
        result = answer.json()["results"][0]
        schema = load_bundle(out).attributes.tagger.schema_  # type: ignore[union-attr]
        assert result["tags"] and set(result["tags"]) <= set(schema[result["path"][0]])
    # retraining the part gives a new served version; the category model is untouched
    params = json.dumps({"tagger": "crf", "c2": 0.5, "max_iterations": 30})
    cli("train", pave["train"], "--model", "extractor", "--text", "input_title", "--params", params, "--out", out)
    assert load_served_model(out, target_precision=0.9).version != served.version
    assert (out / "taxonomy.json").is_file()


def test_chinese_catalogue_gets_the_character_tagger(tmp_path: Path) -> None:
    train = head(TAOBAO / "train.txt", tmp_path / "train.txt", 12000)
    output = cli("train", train, "--model", "extractor", "--out", tmp_path / "zh")
    assert "trained crf-extractor" in output
    cli("evaluate", tmp_path / "zh", TAOBAO / "test.txt", "--out", tmp_path / "ev")
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())["attributes"]
    assert metrics["exact"]["f1"] > 0.5


def test_free_tags_part(pave: dict[str, Path], tmp_path: Path) -> None:
    """``--model tags``: the multi-label tagger as a part (a tiny random encoder: the doors, not the accuracy)."""
    from test_transformer_helpers import tiny_encoder

    rows = [json.loads(line) for line in pave["train"].read_text().splitlines()]
    stated = [sorted(a for a, v in r["target_scores"].items() if "n/a" not in v)[:3] for r in rows]
    table = pd.DataFrame({"title": [r["input_title"] for r in rows], "labels": ["|".join(s) for s in stated]})
    table.to_csv(tmp_path / "tagged.csv", index=False)
    params = {"encoder": tiny_encoder(tmp_path / "enc"), "epochs": 2, "num_threads": 1, "progress_bar": False}
    args = ["--model", "tags", "--tags", "labels", "--params", json.dumps(params)]
    output = cli("train", tmp_path / "tagged.csv", *args, "--out", tmp_path / "m")
    assert "trained tagger on 300 rows" in output
    part = load_bundle(tmp_path / "m").tags
    assert part is not None and "Brand" in part.tags and part.tables
    output = cli("evaluate", tmp_path / "m", tmp_path / "tagged.csv", "--out", tmp_path / "ev")
    scored = json.loads((tmp_path / "ev" / "metrics.json").read_text())["attributes"]["tags"]
    assert {r["tag"] for r in scored} == set(part.tags) and all(0 <= r["f1"] <= 1 for r in scored)
    assert "tag Brand:" in output
    cli("predict", tmp_path / "m", tmp_path / "tagged.csv", "--out", tmp_path / "p.csv")
    predicted = [json.loads(t) for t in pd.read_csv(tmp_path / "p.csv")["tags"]]
    entries = [e for row in predicted for e in row.values()]
    assert entries and all(e["kind"] == "tag" and e["value"] in part.tags for e in entries)
