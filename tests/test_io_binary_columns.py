"""A Parquet binary column means the same text in every command: decoded like text lines, or the row rejected.

`inspect` used to crash on it (UnicodeDecodeError) while clean/train/predict turned the bytes into "b'...'".
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from real_shaped import LEVELS, mwpd_records
from skutag.catalogue.encoding import decode_value
from skutag.catalogue.reader import ReadStats, read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.cli.main import app

runner = CliRunner()
N = 120
BINARY_ROW = 4  # 1-based: its Name is not text
LATIN_ROW = 7  # its Name is cp1252, not UTF-8
EMPTY_ROW = 9  # its Name is missing
LATIN_NAME = "Crème brûlée dish, 12 cm"


def _rejects(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def offers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MWPD-shaped offers whose Name column is Parquet ``binary``."""
    recs = mwpd_records(N)
    names: list[bytes | None] = [r["Name"].encode() for r in recs]
    names[BINARY_ROW - 1] = b"\x00\xff"
    names[LATIN_ROW - 1] = LATIN_NAME.encode("cp1252")
    names[EMPTY_ROW - 1] = None
    table = pa.table(
        {
            "Name": pa.array(names, pa.binary()),
            "Description": [r["Description"] for r in recs],
            **{c: [r[c] for r in recs] for c in LEVELS},
        }
    )
    path = tmp_path_factory.mktemp("binary") / "offers.parquet"
    pq.write_table(table, path)
    return path


def test_decode_value_rules() -> None:
    assert decode_value("Grüße".encode(), "utf-8") == ("Grüße", False)
    assert decode_value(LATIN_NAME.encode("cp1252"), "utf-8") == (LATIN_NAME, True)
    assert decode_value(LATIN_NAME.encode("cp1252"), "cp1252") == (LATIN_NAME, True)
    assert decode_value("Grüße".encode("utf-16"), "utf-8") == ("Grüße", True)
    assert decode_value(b"\x00\xff", "utf-8") is None and decode_value(b"\x89PNG\r\n\x1a\n\x00", "cp1252") is None


def test_reader_decodes_or_rejects(offers: Path) -> None:
    sink = RejectSink()
    st = ReadStats(str(offers))
    df = read_catalogue(offers, rejects=sink, stats=st)
    assert st.records == N and len(df) == N - 1 and sink.count == 1 and st.records == len(df) + sink.count
    rej = sink.examples[0]
    assert (rej.source, rej.row, rej.column) == (str(offers), BINARY_ROW, "Name")
    assert rej.reason.startswith("binary data: ")
    names = df.set_index("_row")["Name"]
    assert names[LATIN_ROW] == LATIN_NAME and pd.isna(names[EMPTY_ROW])
    assert st.fallback_rows == [LATIN_ROW]
    assert all(isinstance(v, str) and not v.startswith("b'") for v in names.dropna())


def test_inspect(offers: Path, tmp_path: Path) -> None:
    out = tmp_path / "quality"
    res = runner.invoke(app, ["inspect", str(offers), "--out", str(out), "--text", "Name", "--label", ",".join(LEVELS)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "quality.json").read_text())
    rejects = _rejects(out / "rejects.jsonl")
    assert report["dataset"]["rows"] + len(rejects) == N and report["dataset"]["rejected_rows"] == len(rejects) == 1
    assert (rejects[0]["source"], rejects[0]["row"], rejects[0]["column"]) == (str(offers), BINARY_ROW, "Name")


def test_clean(offers: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean.jsonl"
    res = runner.invoke(app, ["clean", str(offers), "--out", str(out), "--text", "Name", "--label", ",".join(LEVELS)])
    assert res.exit_code == 0, res.output
    cleaned = pd.read_json(out, lines=True, dtype=False)
    rejects = _rejects(tmp_path / "clean.jsonl.rejects.jsonl")
    assert f"{N} rows in, {len(cleaned)} out, {len(rejects)} rejected" in res.output
    assert len(cleaned) + len(rejects) == N
    assert {(r["row"], r["column"]) for r in rejects} == {(BINARY_ROW, "Name"), (EMPTY_ROW, "Name")}  # no text
    names = cleaned.set_index("_row")["Name"]
    assert names[LATIN_ROW] == LATIN_NAME and not any(v.startswith("b'") for v in names)


def test_train_and_predict(offers: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    res = runner.invoke(app, ["train", str(offers), "--text", "Name", "--label", ",".join(LEVELS), "--out", str(model)])
    assert res.exit_code == 0, res.output
    meta = json.loads((model / "meta.json").read_text())
    rejects = _rejects(tmp_path / "model.rejects.jsonl")
    assert meta["rows_used"] + meta["rows_rejected"] == N and meta["rows_rejected"] == len(rejects) == 2
    assert {(r["row"], r["reason"].split(":")[0]) for r in rejects} == {
        (BINARY_ROW, "binary data"),
        (EMPTY_ROW, "empty text"),
    }

    pred = tmp_path / "pred.csv"
    res = runner.invoke(app, ["predict", str(model), str(offers), "--out", str(pred)])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(pred)
    rejects = _rejects(tmp_path / "pred.csv.rejects.jsonl")
    assert len(got) + len(rejects) == N and sorted(r["row"] for r in rejects) == [BINARY_ROW, EMPTY_ROW]
    assert got["_row"].tolist() == [r for r in range(1, N + 1) if r not in (BINARY_ROW, EMPTY_ROW)]
