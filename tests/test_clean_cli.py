"""`skutag clean` on the command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from real_shaped import mwpd_records
from skutag.cli.main import app


def _catalogue(path: Path) -> Path:
    pd.DataFrame(
        {
            "title": ["Red <b>shoe</b>", "red shoe", "Blue hat", "N/A", "Green scarf"],
            "description": ["Comfy&nbsp;shoe", "dup", "", "x", "null"],
            "cat": ["Shoes > Red", "Shoes>Red", "Hats", "Hats", "Scarves"],
        }
    ).to_csv(path, index=False)
    return path


def test_clean_command(tmp_path: Path) -> None:
    src = _catalogue(tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "clean", str(src), "--out", str(out), "--text", "title,description", "--label", "cat",
            "--label-sep", " > ", "--missing", "title=drop,description=fill:", "--dedup", "exact",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "5 rows in, 3 out, 2 rejected" in res.output
    assert "missing" in res.output and "exact_duplicate" in res.output
    df = pd.read_json(out, lines=True, dtype=False)
    assert df["title"].tolist() == ["Red shoe", "Blue hat", "Green scarf"]
    assert df["description"].tolist() == ["Comfy shoe", "", ""]
    assert df["cat"].tolist()[0] == "Shoes > Red"
    assert (tmp_path / "out.jsonl.rejects.jsonl").exists()


def test_clean_command_errors_exit_2(tmp_path: Path) -> None:
    src = _catalogue(tmp_path / "in.csv")
    runner = CliRunner()
    for args in (
        ["--text", "nope"],
        ["--dedup", "fuzzy"],
        ["--missing", "title=explode"],
    ):
        res = runner.invoke(app, ["clean", str(src), "--out", str(tmp_path / "o.csv"), *args])
        assert res.exit_code == 2, (args, res.output)
        assert "error" in res.output
    res = runner.invoke(app, ["clean", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2


def test_clean_counts_nul_bytes_stripped_from_csv(tmp_path: Path) -> None:
    recs = mwpd_records(60)
    recs[2]["Name"] = recs[2]["Name"].replace(" ", "\x00 ", 1)
    recs[5]["Description"] = "\x00" + recs[5]["Description"]
    recs[8]["Name"] = "\x00\x00"  # nothing left once the NULs go: rejected as empty text with no description
    recs[8]["Description"] = ""
    recs[9]["lvl3"] = recs[9]["lvl3"] + "\x00"
    src = tmp_path / "offers.csv"
    pd.DataFrame(recs).to_csv(src, index=False)
    assert src.read_bytes().count(b"\x00") == 5
    out = tmp_path / "clean.csv"
    res = CliRunner().invoke(
        app, ["clean", str(src), "--out", str(out), "--text", "Name,Description", "--label", "lvl1,lvl2,lvl3"]
    )
    assert res.exit_code == 0, res.output
    assert "nul_stripped_values=4" in res.output.replace("\n", "")
    cleaned = pd.read_csv(out, dtype=str, keep_default_na=False)
    rejects = (tmp_path / "clean.csv.rejects.jsonl").read_text().splitlines()
    assert "60 rows in, 59 out, 1 rejected" in res.output and len(cleaned) + len(rejects) == 60
    assert not cleaned.apply(lambda col: col.str.contains("\x00", regex=False)).to_numpy().any()
