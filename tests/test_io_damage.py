"""Property: one damaged record in an otherwise clean CSV costs exactly that record, never its neighbours."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skutag.catalogue import reader
from skutag.catalogue.reader import ReadStats, read_catalogue
from skutag.catalogue.rejects import RejectSink

# Values never start with a comma or quote, so a stray quote cannot be closed into a valid-looking record.
value = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ,é]{0,12}", fullmatch=True)
rows = st.lists(st.tuples(value, value), min_size=2, max_size=25)
damage = st.sampled_from(["stray_quote", "extra_field", "missing_field", "bad_bytes", "blank_line"])


def render(data: list[tuple[str, str]]) -> list[str]:
    lines = []
    for i, (a, b) in enumerate(data, start=1):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([str(i), a, b])
        lines.append(buf.getvalue())
    return lines


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=rows,
    kind=damage,
    where=st.integers(min_value=0, max_value=1000),
    block=st.sampled_from([1, 7, 64, 1 << 20]),
)
def test_single_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: list[tuple[str, str]], kind: str, where: int, block: int
) -> None:
    monkeypatch.setattr(reader, "_CSV_BLOCK", block)  # small blocks put records across block ends
    k = where % len(data)
    if kind == "bad_bytes":
        data = [*data[:k], (data[k][0] + "BADBYTES", data[k][1]), *data[k + 1 :]]
    blob = [ln.encode() for ln in render(data)]
    if kind == "stray_quote":
        blob[k] = blob[k].replace(b",", b',"', 1)
    elif kind == "extra_field":
        blob[k] = blob[k].replace(b"\n", b",extra\n")
    elif kind == "missing_field":
        blob[k] = blob[k].split(b",", 1)[0] + b"\n"
    elif kind == "bad_bytes":
        blob[k] = blob[k].replace(b"BADBYTES", b"\x81\x8d")
    else:
        blob.insert(k, b"\n")
    p = tmp_path / "d.csv"
    p.write_bytes(b"id,a,b\n" + b"".join(blob))
    sink = RejectSink()
    stats = ReadStats(str(p))
    df = read_catalogue(p, rejects=sink, stats=stats)
    assert stats.records == len(data) == len(df) + sink.count
    damaged = {str(k + 1)} if kind in ("stray_quote", "extra_field", "missing_field") else set()
    assert sink.count == len(damaged)
    assert {r.row for r in sink.examples} == {k + 1 for _ in damaged}
    expected = [str(i) for i in range(1, len(data) + 1) if str(i) not in damaged]
    assert df["id"].tolist() == expected
    kept = {r["id"]: (r["a"], r["b"]) for r in df.to_dict("records")}
    for i, (a, b) in enumerate(data, start=1):
        if str(i) in damaged or (kind == "bad_bytes" and i == k + 1):
            continue
        assert kept[str(i)] == (a, b)
    if kind == "bad_bytes":
        assert stats.fallback_rows == [k + 1]


@pytest.mark.parametrize("block", [1, 5, 13, 1 << 20])
def test_multiline_fields_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(reader, "_CSV_BLOCK", block)
    body = "".join(f'{i},"line one\nline two, {i}\n\nend é"\n' for i in range(1, 21))
    p = tmp_path / "m.csv"
    p.write_bytes(("id,text\n" + body).encode() + b'21,"never closed\n22,ok\n')
    sink = RejectSink()
    df = read_catalogue(p, rejects=sink)
    assert df["id"].tolist() == [str(i) for i in range(1, 21)] + ["22"]
    assert df["text"].iloc[0] == "line one\nline two, 1\n\nend é"
    assert [r.row for r in sink.examples] == [21]
