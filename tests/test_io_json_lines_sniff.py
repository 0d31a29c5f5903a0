"""JSON Lines detection looks past the first line: a bad first line costs that line alone, never the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from real_shaped import mwpd_records, write_jsonl
from skutag.catalogue.formats import sniff_format
from skutag.catalogue.reader import ReadStats, read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.cli.main import app
from skutag.errors import UnsupportedFormatError

GOOD = mwpd_records(99)
# The three first lines: a 1 MB array, a valid object with a 2 MB field, the number 0.
FIRST_LINES = {
    "array": (json.dumps(list(range(200_000))), "not an object: the JSON line is a list"),
    "long_field": (json.dumps({**GOOD[0], "Description": "x" * 2_000_000}), "field too long"),
    "zero": ("0", "not an object: the JSON line is a int"),
}


@pytest.mark.parametrize("ext", ["jsonl", "ndjson", "json"])
@pytest.mark.parametrize("kind", sorted(FIRST_LINES))
def test_bad_first_line_is_rejected_alone(tmp_path: Path, kind: str, ext: str) -> None:
    first, reason = FIRST_LINES[kind]
    p = write_jsonl(tmp_path / f"offers.{ext}", GOOD, first)
    assert kind == "zero" or len(first) > 1_000_000  # as long as the lines
    sink = RejectSink()
    st = ReadStats(str(p))
    df = read_catalogue(p, rejects=sink, stats=st)
    assert st.fmt == "jsonl" and st.records == 100
    assert len(df) == 99 and sink.count == 1 and st.records == len(df) + sink.count
    assert df["Name"].tolist() == [r["Name"] for r in GOOD] and df["_row"].tolist() == list(range(2, 101))
    rej = sink.examples[0]
    assert rej.row == 1 and rej.source == str(p) and reason in rej.reason


@pytest.mark.parametrize("kind", sorted(FIRST_LINES))
def test_clean_keeps_the_good_rows(tmp_path: Path, kind: str) -> None:
    src = write_jsonl(tmp_path / "offers.jsonl", GOOD, FIRST_LINES[kind][0])
    out = tmp_path / "clean.jsonl"
    res = CliRunner().invoke(app, ["clean", str(src), "--out", str(out), "--label", "lvl1,lvl2,lvl3"])
    assert res.exit_code == 0, res.output
    assert "100 rows in, 99 out, 1 rejected" in res.output
    rejects = [json.loads(line) for line in (tmp_path / "clean.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [(r["source"], r["row"]) for r in rejects] == [(str(src), 1)]


def test_same_bad_line_further_down_is_still_rejected_alone(tmp_path: Path) -> None:
    first, reason = FIRST_LINES["array"]
    lines = [json.dumps(r) for r in GOOD]
    p = tmp_path / "offers.json"
    p.write_text("\n".join([*lines[:5], first, *lines[5:]]) + "\n")
    sink = RejectSink()
    df = read_catalogue(p, rejects=sink)
    assert len(df) == 99 and sink.count == 1 and sink.examples[0].row == 6 and reason in sink.examples[0].reason


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b'[\n  {"a": 1},\n  {"a": 2}\n]\n', "json"),  # pretty-printed: only the last element stands alone
        (b'{\n "items": [\n  {"a": 1}\n ]\n}\n', "json"),
        (b'[{"a": 1},\n{"a": 2}]\n', "json"),
        (b'{"a": 1, "b": "broken\n{"a": 2}\n{"a": 3}\n', "jsonl"),  # a broken first line, good lines after
        (b"0\n" + b'{"a": 2}\n' * 3, "jsonl"),
    ],
)
def test_json_sniffing_reads_more_than_the_first_line(tmp_path: Path, data: bytes, fmt: str) -> None:
    p = tmp_path / "x.json"
    p.write_bytes(data)
    assert sniff_format(p).fmt == fmt


def test_jsonl_name_without_any_json_is_still_an_error(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text("ID,Name\n1,Sterling Silver Angel Charm\n")
    with pytest.raises(UnsupportedFormatError, match="does not hold jsonl"):
        sniff_format(p)
