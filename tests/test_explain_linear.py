"""Linear explanations on a real MWPD slice: exact (spans + bias = the centred path score), a planted shortcut is
the top span, faithfulness beats random words, and `skutag explain` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest_store import shared_data
from skutag.explain import explain
from skutag.explain.faithfulness import faithfulness
from skutag.explain.linear import centred_score
from skutag.explain.spans import tokens
from skutag.models.linear import LinearModel

PLANTED = "zqxvortal"
LABELS = ["lvl1", "lvl2", "lvl3"]


@pytest.fixture(scope="module")
def mwpd() -> pd.DataFrame:
    path = shared_data() / "mwpd2020" / "train.json"
    if not path.is_file():
        pytest.skip("shared data not found")
    df = pd.read_json(path, lines=True, nrows=800)
    return df.fillna("").astype({c: str for c in ["Name", "Description", *LABELS]})


@pytest.fixture(scope="module")
def planted(mwpd: pd.DataFrame) -> tuple[LinearModel, pd.DataFrame, str]:
    """A linear model on 800 real offers where every offer of one mid-sized class has the planted word."""
    counts = mwpd["lvl3"].value_counts()
    cls = str(counts.index[5])
    df = mwpd.copy()
    mask = df["lvl3"] == cls
    df.loc[mask, "Name"] = df.loc[mask, "Name"].map(lambda n: f"{n} {PLANTED}")
    model = LinearModel(calibration_fraction=0.0).fit(df[["Name", "Description"]], df[LABELS])
    return model, df, cls


def test_planted_shortcut_is_the_top_span(planted: tuple[LinearModel, pd.DataFrame, str]) -> None:
    model, df, cls = planted
    rows = df[df["lvl3"] == cls].head(15)
    found = explain(model, rows[["Name", "Description"]])
    for ex in found:
        assert ex.path[-1] == cls
        assert ex.top(1)[0].text == PLANTED, [(s.text, round(s.weight, 3)) for s in ex.top(3)]
    occl = explain(model, rows[["Name", "Description"]].head(5), method="occlusion")
    assert sum(ex.top(1)[0].text == PLANTED for ex in occl) >= 4


def test_linear_weights_add_up_to_the_centred_score(planted: tuple[LinearModel, pd.DataFrame, str]) -> None:
    model, df, _ = planted
    rows = df[["Name", "Description"]].iloc[100:120]
    for ex, (_, row) in zip(explain(model, rows), rows.iterrows(), strict=True):
        texts = [str(v) for v in row.tolist()]
        total = sum(s.weight for s in ex.spans) + (ex.bias or 0.0)
        assert total == pytest.approx(centred_score(model, texts, ex.path), abs=1e-3)
        for s in ex.spans:
            assert texts[list(rows.columns).index(s.field)][s.start : s.end] == s.text


def test_alternative_path(planted: tuple[LinearModel, pd.DataFrame, str]) -> None:
    model, df, cls = planted
    row = df[df["lvl3"] == cls].head(1)[["Name", "Description"]]
    other = next(p for p in model.path_names() if p[-1] != cls)
    ex = explain(model, row, path=list(other))[0]
    assert ex.path == list(other)
    weights = {s.text: s.weight for s in ex.spans}
    assert weights[PLANTED] < 0  # the shortcut speaks against every other class


def test_faithfulness_beats_random(planted: tuple[LinearModel, pd.DataFrame, str]) -> None:
    model, df, _ = planted
    rows = df[["Name", "Description"]].iloc[200:260].reset_index(drop=True)
    found = explain(model, rows)
    paths = [ex.path for ex in found]
    ours = faithfulness(model, rows, paths, [[s.weight for s in ex.spans] for ex in found])
    rng = np.random.default_rng(0)
    n = [len(tokens([str(v) for v in r], ["Name", "Description"])) for r in rows.itertuples(index=False)]
    rand = faithfulness(model, rows, paths, [rng.random(k).tolist() for k in n])
    assert ours.mean_comprehensiveness > 2 * rand.mean_comprehensiveness
    assert ours.mean_sufficiency < rand.mean_sufficiency


def test_cli_explain_end_to_end(tmp_path: Path, mwpd: pd.DataFrame) -> None:
    from typer.testing import CliRunner

    from skutag.cli.main import app

    train = tmp_path / "train.jsonl"
    mwpd.head(400).to_json(train, orient="records", lines=True)
    data = tmp_path / "data.jsonl"
    rows = mwpd.iloc[400:410].to_dict("records")
    rows.append({**rows[0], "ID": "empty", "Name": "", "Description": "", "CategoryText": "", "URL": ""})
    rows[1]["Name"] = "<script>alert(1)</script> " + rows[1]["Name"]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runner = CliRunner()
    model = tmp_path / "model"
    r = runner.invoke(app, ["train", str(train), "--out", str(model), "--text", "Name", "--label", ",".join(LABELS)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    r = runner.invoke(app, ["explain", str(model), str(data), "--out", str(out), "--limit", "11"])
    assert r.exit_code == 0, r.output
    assert "10 rows explained" in r.output and "1 rejected" in r.output
    lines = [json.loads(x) for x in (out / "explanations.jsonl").read_text().splitlines()]
    assert len(lines) == 10 and all(x["method"] == "linear" and x["spans"] for x in lines)
    page = (out / "explanations.html").read_text()
    assert "<script" not in page and "&lt;" in page and "<mark" in page
    r = runner.invoke(app, ["explain", str(model), str(data), "--out", str(out), "--method", "ig"])
    assert r.exit_code != 0
