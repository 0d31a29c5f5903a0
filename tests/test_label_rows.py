"""Which labelled rows train: a path may stop early (taxonomies have uneven depth), it may not skip a level.
The rule is the same in the code, in `skutag train --help` and in the README."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from skutag.catalogue.labelled import split_labelled
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ROW_COL, ColumnSpec
from skutag.cli.main import app
from skutag.models.registry import load_model
from test_model_data import synthetic

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ColumnSpec(text=("title",), label=("l1", "l2", "l3"))


def frame(rows: list[tuple[str, str | None, str | None, str | None]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["title", "l1", "l2", "l3"], dtype=object)
    df.insert(0, ROW_COL, range(1, len(df) + 1))
    return df


def test_a_path_may_stop_early_but_not_skip_a_level(tmp_path: Path) -> None:
    df = frame(
        [
            ("chef knife", "Home", "Kitchen", "Knives"),  # whole path
            ("kitchen towel", "Home", "Kitchen", None),  # stops at level 2: kept
            ("garden hose", "Home", "", ""),  # stops at level 1: kept
            ("wok", "Home", None, "Pans"),  # level 2 empty, level 3 given: rejected
            ("rag doll", "", "Dolls", None),  # no level 1: rejected
            ("  ", "Toys", None, None),  # no text: rejected
        ]
    )
    with RejectSink(tmp_path / "rejects.jsonl") as sink:
        data = split_labelled(df, LEVELS, sink)
    assert data.texts["title"].tolist() == ["chef knife", "kitchen towel", "garden hose"]
    assert data.labels.to_numpy().tolist() == [
        ["Home", "Kitchen", "Knives"],
        ["Home", "Kitchen", None],
        ["Home", None, None],
    ]
    assert data.rows_read == 6 and data.rows_rejected == 3
    assert data.rejected_by_reason == {"missing label": 2, "empty text": 1}
    rejects = {r["row"]: r for r in map(json.loads, (tmp_path / "rejects.jsonl").read_text().splitlines())}
    assert rejects[4]["column"] == "l2"
    assert rejects[4]["reason"].startswith("missing label: level 2 is empty but level 3 is not")
    assert rejects[5]["reason"] == "missing label: no level-1 label"


def test_a_path_column_stops_early_too() -> None:
    df = pd.DataFrame({"title": ["a", "b"], "path": ["Home > Kitchen > Knives", "Home > Kitchen"]}, dtype=object)
    data = split_labelled(df, ColumnSpec(text=("title",), label=("path",), label_sep=" > "))
    assert data.rows_rejected == 0
    assert data.labels.to_numpy().tolist() == [["Home", "Kitchen", "Knives"], ["Home", "Kitchen", None]]


def test_train_learns_partial_paths_and_says_so(tmp_path: Path) -> None:
    """Through the CLI: products classified only to level 2 train and are predicted as level-2 paths; a row
    that skips a level is in the rejects file; --help and the README state the rule."""
    df = synthetic(300, seed=4)
    knives = df["lvl3"] == "Knives"
    df.loc[knives, "lvl3"] = ""  # a shop that classifies knives to level 2 only
    df.loc[df.index[df["lvl3"] == "Pans"][:2], "lvl2"] = ""  # two rows skip level 2
    df.to_csv(tmp_path / "train.csv", index=False)
    argv = ["train", str(tmp_path / "train.csv"), "--text", "title", "--label", "lvl1,lvl2,lvl3"]
    res = CliRunner().invoke(app, [*argv, "--out", str(tmp_path / "model")])
    assert res.exit_code == 0, res.output
    assert "trained linear on 298 rows (2 rejected)" in res.output
    rejects = [json.loads(r) for r in (tmp_path / "model.rejects.jsonl").read_text().splitlines()]
    assert {r["reason"].split(" (")[0] for r in rejects} == {"missing label: level 2 is empty but level 3 is not"}
    model = load_model(tmp_path / "model")
    pred = model.predict(pd.DataFrame({"title": ["Chef Knife Large Set", "Frying Pan Value Pack"]}))
    assert pred.to_numpy().tolist() == [["Home", "Kitchen", None], ["Home", "Kitchen", "Pans"]]

    helped = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    flat = " ".join(helped.output.replace("│", " ").split())
    assert "A path may stop early" in flat and "an empty level before a filled one, is rejected" in flat
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "A path may stop early" in readme and "with an empty level before a filled one, is rejected" in readme
