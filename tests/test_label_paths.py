"""One rule for label paths: a level label holding the path separator (or a relative path) is rejected with its
reason in training and cleaning, so every prediction path has exactly the model's number of levels."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from real_shaped import LEVELS, mwpd_records
from skutag.catalogue.columns import label_frame, resolve_spec
from skutag.cleaning.labels import parse_path
from skutag.cli.main import app
from skutag.errors import TaxonomyError
from skutag.taxonomy import PATH_SEP, Taxonomy, bad_level, label_problem, split_path

runner = CliRunner()
N = 150
#: 1-based row -> (level column, label): labels that hold the separator, or a relative path.
BAD = {
    3: ("lvl2", "Clothing > Tops"),
    10: ("lvl3", "Bread > Rye > Sliced"),
    21: ("lvl3", "../../etc/passwd"),
    40: ("lvl2", "Food/../Drinks"),
}
SLASH_ROW = 50  # a plain slash is a real category name (MWPD: "Bread/Bakery Products"): kept


def _rejects(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def offers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    df = pd.DataFrame(mwpd_records(N))
    for row, (col, label) in BAD.items():
        df.loc[row - 1, col] = label
    df.loc[SLASH_ROW - 1, "lvl3"] = "10000000_Baby Hygiene/Grooming"
    df["path"] = df[LEVELS].agg(" | ".join, axis=1)  # the same labels as one path column, separator " | "
    path = tmp_path_factory.mktemp("labels") / "offers.csv"
    df.to_csv(path, index=False)
    return path


def test_the_rule() -> None:
    assert split_path("A > B>C") == ["A", "B", "C"] == parse_path("A > B>C")
    assert split_path(" A | B |", " | ") == ["A", "B"]
    assert label_problem("Bread/Bakery Products") is None and label_problem("St. John's Wort") is None
    assert label_problem("1.5 L bottles") is None and label_problem("...") is None
    for bad in ("A > B", "A>B", "..", "../x", "a/./b", "x\\..\\y"):
        assert label_problem(bad) is not None, bad
    found = bad_level(["Food", "Fruit > Citrus", None])
    assert found is not None and found[0] == 1 and found[1].startswith("bad label: level 2 label 'Fruit > Citrus'")
    with pytest.raises(TaxonomyError, match="path separator"):
        Taxonomy.from_paths([("Food", "Fruit > Citrus", "Lemons")])


def test_path_columns_split_as_cleaning_splits_them() -> None:
    df = pd.DataFrame({"t": ["x", "y"], "cat": ["Shoes>Red", "Shoes > Red"]})
    spec = resolve_spec(df.columns, text=["t"], label=["cat"], label_sep=" > ")
    assert label_frame(df, spec).to_numpy().tolist() == [["Shoes", "Red"], ["Shoes", "Red"]]


@pytest.mark.parametrize("labels", [["--label", ",".join(LEVELS)], ["--label", "path", "--label-sep", " | "]])
def test_train_rejects_bad_labels_and_predicts_full_paths(offers: Path, tmp_path: Path, labels: list[str]) -> None:
    model = tmp_path / "model"
    res = runner.invoke(app, ["train", str(offers), "--text", "Name", *labels, "--out", str(model)])
    assert res.exit_code == 0, res.output
    meta = json.loads((model / "meta.json").read_text())
    rejects = _rejects(tmp_path / "model.rejects.jsonl")
    assert meta["rows_used"] + meta["rows_rejected"] == N and meta["rows_rejected"] == len(rejects) == len(BAD)
    assert {r["row"] for r in rejects} == set(BAD)
    assert all(r["reason"].startswith("bad label: level ") and r["source"] == str(offers) for r in rejects)
    if labels[1] != "path":
        assert {r["row"]: r["column"] for r in rejects} == {row: col for row, (col, _) in BAD.items()}
    assert all(len(meta["label_set"][f"level_{i}"]) > 1 for i in (1, 2, 3)) and "level_4" not in meta["label_set"]

    pred = tmp_path / "pred.jsonl"
    res = runner.invoke(app, ["predict", str(model), str(offers), "--out", str(pred)])
    assert res.exit_code == 0, res.output
    got = pd.read_json(pred, lines=True, dtype=False)
    assert len(got) == N and (pred.with_name("pred.jsonl.rejects.jsonl")).read_text() == ""
    assert all(len(p.split(PATH_SEP)) == 3 for p in got["path"])
    for alts in got["alternatives"]:
        assert all(len(a["path"].split(PATH_SEP)) == 3 for a in json.loads(alts))


def test_clean_rejects_the_same_rows(offers: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean.csv"
    res = runner.invoke(app, ["clean", str(offers), "--out", str(out), "--text", "Name", "--label", ",".join(LEVELS)])
    assert res.exit_code == 0, res.output
    cleaned = pd.read_csv(out)
    rejects = _rejects(tmp_path / "clean.csv.rejects.jsonl")
    assert f"{N} rows in, {len(cleaned)} out, {len(rejects)} rejected" in res.output
    assert len(cleaned) + len(rejects) == N
    assert {r["row"]: (r["column"], r["reason"].split(":")[0]) for r in rejects} == {
        row: (col, "bad label") for row, (col, _) in BAD.items()
    }
    assert SLASH_ROW in set(cleaned["_row"])
