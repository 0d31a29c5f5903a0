"""train / evaluate / predict end to end through the CLI and the library functions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from skutag.cli.main import app
from skutag.models.registry import load_model
from skutag.workflows.train import train_model
from test_model_data import synthetic

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("data")
    train = synthetic(300, seed=1)
    train.loc[5, ["title", "shop_category", "description"]] = ""  # no text: rejected
    train.loc[7, "category"] = ""  # no label: rejected
    a, b = train.iloc[:150], train.iloc[150:]
    a.to_csv(d / "a.csv", index=False)
    b.to_json(d / "b.jsonl", orient="records", lines=True)
    with (d / "b.jsonl").open("a") as fh:
        fh.write('{"title": "broken record\n')  # unreadable JSON line: rejected by the reader
    valid = synthetic(120, seed=2)
    valid.to_csv(d / "valid.csv", index=False)
    big = synthetic(2500, seed=3).drop(columns=["lvl1", "lvl2", "lvl3", "category"])
    big.loc[3, "title"] = ""
    big.loc[3, "shop_category"] = ""
    big.to_csv(d / "unlabelled.csv", index=False)
    return {"a": d / "a.csv", "b": d / "b.jsonl", "valid": d / "valid.csv", "big": d / "unlabelled.csv", "dir": d}


@pytest.fixture(scope="module")
def model_dir(files: dict[str, Path]) -> Path:
    out = files["dir"] / "model"
    res = runner.invoke(
        app,
        [
            "train",
            str(files["a"]),
            str(files["b"]),
            "--text",
            "title,shop_category",
            "--label",
            "category",
            "--label-sep",
            " > ",
            "--model",
            "linear",
            "--out",
            str(out),
            "--valid",
            str(files["valid"]),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "mean: accuracy" in res.output and "(3 rejected)" in res.output
    return out


def test_model_card(model_dir: Path, files: dict[str, Path]) -> None:
    meta = json.loads((model_dir / "meta.json").read_text())
    assert meta["text_columns"] == ["title", "shop_category"]
    assert meta["label_columns"] == ["category"] and meta["label_sep"] == " > "
    assert meta["rows_used"] == 298 and meta["rows_rejected"] == 3  # rows in = used + rejected
    assert len(meta["data_sha256"]) == 64 and len(meta["data"]) == 2
    assert meta["validation"]["metrics"]["mean"]["f1_weighted"] > 0.8
    assert "Apples" in meta["label_set"]["level_3"] and "scikit-learn" in meta["versions"]
    assert meta["train_seconds"] > 0 and meta["files"]
    rejects = [json.loads(line) for line in (files["dir"] / "model.rejects.jsonl").read_text().splitlines()]
    reasons = sorted(r["reason"].split(":")[0] for r in rejects)
    assert len(rejects) == 3 and {"empty text", "missing label"} <= set(reasons)
    assert {r["row"] for r in rejects if r["source"].endswith("a.csv")} == {6, 8}
    assert [r["row"] for r in rejects if r["source"].endswith("b.jsonl")] == [151]


def test_evaluate_needs_no_flags(model_dir: Path, files: dict[str, Path]) -> None:
    out = files["dir"] / "eval"
    res = runner.invoke(app, ["evaluate", str(model_dir), str(files["valid"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["level_3"]["accuracy"] > 0.8 and set(metrics["mean"]) == {"accuracy", "f1_weighted", "f1_macro"}
    assert (out / "report.html").read_text().startswith("<!doctype html>")


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_predict_streams_all_formats(model_dir: Path, files: dict[str, Path], suffix: str) -> None:
    out = files["dir"] / f"pred.{suffix}"
    res = runner.invoke(
        app, ["predict", str(model_dir), str(files["big"]), "--out", str(out), "--chunksize", "700", "--keep", "id"]
    )
    assert res.exit_code == 0, res.output
    pred = {"csv": pd.read_csv, "parquet": pd.read_parquet}.get(suffix, lambda p: pd.read_json(p, lines=True))(out)
    rejected = (out.with_name(out.name + ".rejects.jsonl")).read_text().splitlines()
    assert len(pred) + len(rejected) == 2500 and len(rejected) == 1
    assert {
        "path",
        "level_1",
        "level_2",
        "level_3",
        "score_level_1",
        "path_score",
        "alternatives",
        "id",
        "_row",
    } <= set(pred.columns)
    model = load_model(model_dir)
    assert all(model.taxonomy_.is_valid_path(p.split(" > ")) for p in pred["path"])  # type: ignore[attr-defined]
    assert (pred["score_level_1"] >= pred["path_score"] - 1e-6).all()
    alts = json.loads(pred["alternatives"].iloc[0])
    assert len(alts) == 2 and alts[0]["score"] <= pred["path_score"].iloc[0]
    assert pred["_row"].tolist() == [r for r in range(1, 2501) if r != 4]


def test_clear_errors_exit_2(model_dir: Path, files: dict[str, Path]) -> None:
    res = runner.invoke(app, ["train", str(files["a"]), "--label", "nope", "--out", str(files["dir"] / "x")])
    assert res.exit_code == 2 and "nope" in res.output
    res = runner.invoke(app, ["evaluate", str(files["dir"]), str(files["valid"]), "--out", str(files["dir"] / "e")])
    assert res.exit_code == 2 and "not a skutag model" in res.output
    args = ["train", str(files["a"]), "--label", "category", "--label-sep", " > ", "--model", "bert9"]
    res = runner.invoke(app, [*args, "--out", str(files["dir"] / "x")])
    assert res.exit_code == 2 and "unknown model" in res.output
    # Paths in a label column without their separator: every label holds '>', so every row is refused.
    res = runner.invoke(app, ["train", str(files["a"]), "--label", "category", "--out", str(files["dir"] / "x")])
    assert res.exit_code == 2 and "148 bad label" in res.output and "--label-sep" in res.output
    other = files["dir"] / "other.csv"
    pd.DataFrame({"foo": ["x"]}).to_csv(other, index=False)
    res = runner.invoke(app, ["predict", str(model_dir), str(other), "--out", str(files["dir"] / "p.csv")])
    assert res.exit_code == 2 and "text columns" in res.output


def test_bad_params_are_one_clear_line(files: dict[str, Path]) -> None:
    """--params: an unknown key is refused with the valid names, a bad value by fit; exit 2, no traceback."""
    base = ["train", str(files["a"]), "--label", "category", "--label-sep", " > ", "--out", str(files["dir"] / "x")]
    res = runner.invoke(app, [*base, "--params", '{"C": 1, "class_wieght": "sqrt"}'])
    assert res.exit_code == 2 and "unknown parameter(s) class_wieght" in res.output, res.output
    assert "class_weight" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, [*base, "--params", '{"class_weight": "inverse"}'])
    assert res.exit_code == 2 and "class_weight must be None or one of" in res.output, res.output
    assert "Traceback" not in res.output


def test_library_autodetects_text_column(files: dict[str, Path], tmp_path: Path) -> None:
    res = train_model(files["valid"], label=["lvl1", "lvl2", "lvl3"], params={"calibration_fraction": 0})
    assert res.model.text_columns_ == ["title", "description"]
    assert res.model_dir is None and res.rows_used == 120


def test_predict_counts_reader_rejects_as_rows_read(model_dir: Path, files: dict[str, Path]) -> None:
    """Rows read = rows written + rows rejected, also when the reader itself rejects a broken record."""
    from skutag.workflows.predict import predict_files

    out = files["dir"] / "pred-b.csv"
    lines = files["b"].read_text().splitlines()  # 150 records, then a broken line
    stats = predict_files(model_dir, files["b"], out)
    assert stats.rows_read == len(lines) == 151
    assert stats.rows_rejected == 1 and stats.rows_written == 150 == len(pd.read_csv(out))
    assert stats.rows_read == stats.rows_written + stats.rows_rejected
