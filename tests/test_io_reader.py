"""Reader: every format, and every bad input gives a clear error or a rejects row, never a silent loss."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from skutag.catalogue.reader import ReadStats, iter_catalogue, read_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ROW_COL, SOURCE_COL
from skutag.errors import EmptyInputError, InputError, MissingColumnError, UnsupportedFormatError


def read_counted(path: Path, expected_records: int, **kw: object) -> tuple[pd.DataFrame, RejectSink]:
    """Read with a sink and check rows out + rows rejected = records in the file."""
    sink = RejectSink()
    st = ReadStats(str(path))
    df = read_catalogue(path, rejects=sink, stats=st, **kw)  # type: ignore[arg-type]
    assert st.records == expected_records
    assert len(df) + sink.count == expected_records
    assert st.rows == len(df) and st.rejected == sink.count
    return df, sink


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_csv_basic_values_and_bookkeeping(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", b'id,title,desc\n1,Red shoe,"Leather, size 42"\n2,Blue hat,\n3,"Multi\nline",x\n')
    df, sink = read_counted(p, 3)
    assert sink.count == 0
    assert list(df.columns) == ["id", "title", "desc", ROW_COL, SOURCE_COL]
    assert df["title"].tolist() == ["Red shoe", "Blue hat", "Multi\nline"]
    assert df["desc"].tolist()[0] == "Leather, size 42"
    assert pd.isna(df["desc"].tolist()[1])
    assert df[ROW_COL].tolist() == [1, 2, 3]
    assert set(df[SOURCE_COL]) == {str(p)}


@pytest.mark.parametrize(("sep", "name"), [("\t", "a.tsv"), (";", "a.csv"), ("|", "a.txt"), ("\t", "a.dat")])
def test_other_delimiters_are_sniffed(tmp_path: Path, sep: str, name: str) -> None:
    rows = [["sku", "title", "brand"], ["1", "Red shoe, leather", "Acme"], ["2", "Blue hat", "Hatco"]]
    p = write(tmp_path, name, "\n".join(sep.join(r) for r in rows).encode() + b"\n")
    df, _ = read_counted(p, 2)
    assert df["title"].tolist() == ["Red shoe, leather", "Blue hat"]


def test_broken_quoting_rejects_one_row_and_resyncs(tmp_path: Path) -> None:
    p = write(tmp_path, "b.csv", b'id,title,desc\n1,"Broken title,desc one\n2,"Good",two\n3,Plain,three\n')
    df, sink = read_counted(p, 3)
    assert df["id"].tolist() == ["2", "3"]
    rej = sink.examples[0]
    assert rej.row == 1 and rej.source == str(p)
    assert "quoting" in rej.reason and "line 2" in rej.reason


def test_unclosed_quote_at_end_of_file(tmp_path: Path) -> None:
    p = write(tmp_path, "b.csv", b'id,title\n1,ok\n2,"never closed\n3,also swallowed\n')
    df, sink = read_counted(p, 3)
    assert df["id"].tolist() == ["1", "3"]
    assert sink.examples[0].row == 2


def test_wrong_field_counts(tmp_path: Path) -> None:
    p = write(tmp_path, "w.csv", b"id,title,desc\n1,a,b\n2,a,b,c\n3,a\n\n4,a,b\n")
    df, sink = read_counted(p, 4)
    assert df["id"].tolist() == ["1", "4"]
    reasons = [r.reason for r in sink.examples]
    assert "expected 3 fields, found 4" in reasons[0] and "expected 3 fields, found 2" in reasons[1]
    assert [r.row for r in sink.examples] == [2, 3]


def test_bad_row_without_sink_raises_input_error(tmp_path: Path) -> None:
    p = write(tmp_path, "w.csv", b"id,title\n1,a\n2,a,b\n")
    with pytest.raises(InputError) as exc:
        read_catalogue(p)
    assert exc.value.row == 2 and str(p) in str(exc.value)


def test_mixed_utf8_and_latin1_lines(tmp_path: Path) -> None:
    lines = ["id,title", "1,Café crème", "2,Größe XL", "3,plain"]
    data = (lines[0] + "\n" + lines[1] + "\n").encode("utf-8") + (lines[2] + "\n").encode("latin-1")
    data += (lines[3] + "\n").encode()
    p = write(tmp_path, "m.csv", data)
    st = ReadStats(str(p))
    df = read_catalogue(p, stats=st)
    assert df["title"].tolist() == ["Café crème", "Größe XL", "plain"]
    assert st.encoding == "utf-8" and st.fallback_count == 1 and st.fallback_rows == [2]


def test_mostly_latin1_file_with_a_utf8_line(tmp_path: Path) -> None:
    body = "".join(f"{i},Crème brûlée à la carte numéro {i}\n" for i in range(1, 40))
    data = b"id,title\n" + body.encode("cp1252") + "40,Smörgåsbord\n".encode()
    p = write(tmp_path, "l.csv", data)
    st = ReadStats(str(p))
    df = read_catalogue(p, stats=st)
    assert df["title"].iloc[0] == "Crème brûlée à la carte numéro 1"
    assert df["title"].iloc[-1] == "Smörgåsbord"
    assert st.fallback_rows == [40]


def test_bad_bytes_are_kept_and_reported(tmp_path: Path) -> None:
    p = write(tmp_path, "x.csv", b"id,title\n1,ok\n2,bad \x81\x9d\xff bytes\n")
    st = ReadStats(str(p))
    df = read_catalogue(p, stats=st)
    assert len(df) == 2 and df["title"].iloc[1].startswith("bad ") and df["title"].iloc[1].endswith(" bytes")
    assert st.fallback_rows == [2]


def test_explicit_encoding(tmp_path: Path) -> None:
    p = write(tmp_path, "e.csv", "id,title\n1,Grüße\n".encode("cp1252"))
    assert read_catalogue(p, encoding="cp1252")["title"].tolist() == ["Grüße"]


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf"])
def test_utf8_bom_is_not_part_of_the_first_column(tmp_path: Path, bom: bytes) -> None:
    p = write(tmp_path, "bom.csv", bom + "id,title\n1,Crème\n".encode())
    df = read_catalogue(p)
    assert list(df.columns[:2]) == ["id", "title"] and df["title"].tolist() == ["Crème"]


@pytest.mark.parametrize("enc", ["utf-16", "utf-32"])
def test_utf16_and_utf32_with_bom(tmp_path: Path, enc: str) -> None:
    p = write(tmp_path, "u.csv", "id,title\n1,Crème\n2,日本\n".encode(enc))
    df = read_catalogue(p)
    assert df["title"].tolist() == ["Crème", "日本"]


def test_bom_in_jsonl(tmp_path: Path) -> None:
    p = write(tmp_path, "bom.jsonl", b"\xef\xbb\xbf" + b'{"title": "a"}\n{"title": "b"}\n')
    assert read_catalogue(p)["title"].tolist() == ["a", "b"]


def test_empty_files(tmp_path: Path) -> None:
    for name, data in [("e.csv", b""), ("e.jsonl", b""), ("w.csv", b"  \n\n")]:
        with pytest.raises(EmptyInputError) as exc:
            read_catalogue(write(tmp_path, name, data))
        assert str(tmp_path / name) in str(exc.value)
    with pytest.raises(EmptyInputError, match="header but no data rows"):
        read_catalogue(write(tmp_path, "h.csv", b"id,title\n"))
    with pytest.raises(EmptyInputError):
        read_catalogue(write(tmp_path, "e.json", b"[]"))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_catalogue(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="directory"):
        read_catalogue(tmp_path)
    with pytest.raises(InputError):
        read_catalogue([])


def test_ten_megabyte_field(tmp_path: Path) -> None:
    big = "x" * 10_000_000
    p = write(tmp_path, "big.csv", f"id,title,desc\n1,ok,fine\n2,huge,{big}\n3,ok,fine\n".encode())
    df, sink = read_counted(p, 3)
    assert df["id"].tolist() == ["1", "3"]
    rej = sink.examples[0]
    assert rej.row == 2 and rej.column == "desc" and "max_field_chars" in rej.reason
    assert len(json.dumps(rej.record)) < 2000  # the rejects file does not get the 10 MB value
    df2 = read_catalogue(p, max_field_chars=20_000_000)
    assert len(df2["desc"].iloc[1]) == 10_000_000


def test_field_too_long_in_jsonl_names_column(tmp_path: Path) -> None:
    p = write(tmp_path, "big.jsonl", json.dumps({"id": 1, "desc": "y" * 5000}).encode() + b"\n")
    p.write_bytes(p.read_bytes() + b'{"id": 2, "desc": "short"}\n')
    df, sink = read_counted(p, 2, max_field_chars=1000)
    assert df["id"].tolist() == ["2"] and sink.examples[0].column == "desc"


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    data = b'{"id": 1, "t": "a"}\n[1, 2]\n"just a string"\n{broken\n\nnull\n{"id": 2, "t": "b", "tags": ["x"]}\n'
    p = write(tmp_path, "j.jsonl", data)
    df, sink = read_counted(p, 6)
    assert df["id"].tolist() == ["1", "2"] and df[ROW_COL].tolist() == [1, 7]
    assert df["tags"].tolist()[1] == ["x"]
    reasons = {r.row: r.reason for r in sink.examples}
    assert "not an object" in reasons[2] and "not an object" in reasons[3] and "invalid JSON" in reasons[4]
    assert "null" in reasons[6]
    with pytest.raises(InputError) as exc:
        read_catalogue(p)
    assert exc.value.row == 2


def test_json_value_policy(tmp_path: Path) -> None:
    rec = {"id": 7, "price": 2.5, "ok": True, "none": None, "empty": "", "tags": ["a"], "attrs": {"k": "v"}}
    p = write(tmp_path, "v.jsonl", json.dumps(rec).encode() + b"\n")
    row = read_catalogue(p).iloc[0]
    assert (row["id"], row["price"], row["ok"]) == ("7", "2.5", "true")
    assert pd.isna(row["none"]) and pd.isna(row["empty"])
    assert row["tags"] == ["a"] and row["attrs"] == {"k": "v"}


def test_json_array_and_wrapped_array(tmp_path: Path) -> None:
    recs = [{"id": i, "title": f"t{i}"} for i in range(1, 6)]
    p1 = write(tmp_path, "a.json", json.dumps(recs, indent=2).encode())
    p2 = write(tmp_path, "b.json", json.dumps({"meta": {"n": 5}, "products": [*recs, 5]}).encode())
    df1, _ = read_counted(p1, 5)
    assert df1["title"].tolist() == [f"t{i}" for i in range(1, 6)]
    df2, sink = read_counted(p2, 6)
    assert df2["title"].tolist() == df1["title"].tolist()
    assert sink.examples[0].row == 6 and "not an object" in sink.examples[0].reason


def test_json_array_streams_across_read_boundaries(tmp_path: Path) -> None:
    recs = [{"id": i, "title": "é" * (i % 97), "n": 12345.5} for i in range(30_000)]
    p = write(tmp_path, "big.json", json.dumps(recs).encode())  # > 1 MiB, so several reads
    chunks = list(iter_catalogue(p, chunksize=7_000))
    assert [len(c) for c in chunks] == [7000, 7000, 7000, 7000, 2000]
    df = pd.concat(chunks, ignore_index=True)
    assert df["id"].tolist() == [str(i) for i in range(30_000)] and (df["n"] == "12345.5").all()


def test_truncated_json_document(tmp_path: Path) -> None:
    p = write(tmp_path, "t.json", b'[{"id": 1}, {"id": 2}, {"id": ')
    df, sink = read_counted(p, 3)
    assert df["id"].tolist() == ["1", "2"] and "rest of the file" in sink.examples[0].reason
    with pytest.raises(InputError):
        read_catalogue(p)


def test_json_object_picks_the_array_of_objects(tmp_path: Path) -> None:
    doc = {"tags": ["a", "b"], "empty": [], "items": [{"id": 1}, {"id": 2}], "more": [{"id": 3}]}
    df, _ = read_counted(write(tmp_path, "w.json", json.dumps(doc, indent=1).encode()), 2)
    assert df["id"].tolist() == ["1", "2"]


def test_trailing_data_after_json_document(tmp_path: Path) -> None:
    df, sink = read_counted(write(tmp_path, "t.json", b'[\n  {"id": 1}\n]\n[{"id": 2}]\n'), 2)
    assert df["id"].tolist() == ["1"] and "after the end" in sink.examples[0].reason


def test_one_line_values_one_after_another_are_json_lines(tmp_path: Path) -> None:
    # A JSON document cannot go on after a whole value on its first line: these are two JSON lines.
    df, sink = read_counted(write(tmp_path, "t.json", b'[{"id": 1}]\n{"id": 2}\n'), 2)
    assert df["id"].tolist() == ["2"] and "not an object" in sink.examples[0].reason


def test_json_object_without_records(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no array"):
        read_catalogue(write(tmp_path, "o.json", b'{\n  "a": 1,\n  "b": {"c": 2}\n}\n'))


@pytest.mark.parametrize("name", ["g.csv.gz", "g.bin"])
def test_gzip_by_magic_bytes(tmp_path: Path, name: str) -> None:
    p = write(tmp_path, name, gzip.compress(b"id,title\n1,a\n2,b\n"))
    assert read_catalogue(p)["title"].tolist() == ["a", "b"]


def test_gzip_jsonl_and_bz2(tmp_path: Path) -> None:
    p = write(tmp_path, "g.jsonl.gz", gzip.compress(b'{"a": "x"}\n{"a": "y"}\n'))
    assert read_catalogue(p)["a"].tolist() == ["x", "y"]
    p2 = write(tmp_path, "g.csv.bz2", bz2.compress(b"a\nx\n"))
    assert read_catalogue(p2)["a"].tolist() == ["x"]


def test_corrupt_gzip(tmp_path: Path) -> None:
    body = b"id,title\n" + b"".join(f"{i},{i * 7919 % 10007}\n".encode() for i in range(5000))
    p = write(tmp_path, "c.csv.gz", gzip.compress(body)[:2000])
    with pytest.raises(InputError):
        read_catalogue(p)


def test_unsupported_binary(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormatError):
        read_catalogue(write(tmp_path, "x.bin", b"\x00\x01\x02\x03binary\x00"))
    with pytest.raises(UnsupportedFormatError):
        read_catalogue(write(tmp_path, "x.parquet", b"id,title\n1,a\n"))
    with pytest.raises(UnsupportedFormatError):
        read_catalogue(write(tmp_path, "x.csv", b"id\n1\n"), fmt="xlsx")


def test_parquet_values_chunks_and_long_fields(tmp_path: Path) -> None:
    p = tmp_path / "p.parquet"
    pd.DataFrame(
        {"id": [1, 2, 3], "title": ["a", "", "z" * 50], "tags": [["x"], [], None], "ok": [True, False, None]}
    ).to_parquet(p)
    chunks = list(iter_catalogue(p, chunksize=2))
    assert [len(c) for c in chunks] == [2, 1]
    df, sink = read_counted(p, 3, max_field_chars=10)
    assert df["id"].tolist() == ["1", "2"] and df["ok"].tolist() == ["true", "false"]
    assert pd.isna(df["title"].iloc[1]) and df["tags"].iloc[0] == ["x"]
    assert df[ROW_COL].tolist() == [1, 2] and sink.examples[0].row == 3 and sink.examples[0].column == "title"


def test_usecols(tmp_path: Path) -> None:
    p = write(tmp_path, "u.csv", b"id,title,desc\n1,a,b\n")
    assert list(read_catalogue(p, usecols=["title"]).columns) == ["title", ROW_COL, SOURCE_COL]
    with pytest.raises(MissingColumnError) as exc:
        read_catalogue(p, usecols=["titel"])
    assert "title" in str(exc.value) and "did you mean" in str(exc.value)


def test_chunks_and_several_files(tmp_path: Path) -> None:
    p1 = write(tmp_path, "1.csv", b"id,title\n" + b"".join(f"{i},t{i}\n".encode() for i in range(1, 11)))
    p2 = write(tmp_path, "2.jsonl", b'{"id": "x", "title": "y", "extra": "z"}\n')
    chunks = list(iter_catalogue(p1, chunksize=3))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert chunks[1][ROW_COL].tolist() == [4, 5, 6]
    df = read_catalogue([p1, p2])
    assert len(df) == 11 and df[SOURCE_COL].tolist()[-1] == str(p2) and df["extra"].notna().sum() == 1


def test_all_rows_rejected_still_yields_columns(tmp_path: Path) -> None:
    p = write(tmp_path, "r.csv", b"id,title\n1,a,b\n")
    df, _ = read_counted(p, 1)
    assert len(df) == 0 and list(df.columns) == ["id", "title", ROW_COL, SOURCE_COL]


def test_duplicate_and_empty_header_names(tmp_path: Path) -> None:
    df = read_catalogue(write(tmp_path, "d.csv", b"a,a,,b\n1,2,3,4\n"))
    assert list(df.columns[:4]) == ["a", "a.1", "column_3", "b"]


def test_crlf_line_endings(tmp_path: Path) -> None:
    df = read_catalogue(write(tmp_path, "c.csv", b'id,title\r\n1,"a\r\nb"\r\n2,c\r\n'))
    assert df["title"].tolist() == ["a\r\nb", "c"]


def test_rejects_file_is_written(tmp_path: Path) -> None:
    p = write(tmp_path, "r.csv", b"id,title\n1,a,b\n2,c\n")
    with RejectSink(tmp_path / "rejects.jsonl") as sink:
        df = read_catalogue(p, rejects=sink)
    lines = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert len(df) == 1 and len(lines) == 1 and lines[0]["row"] == 1 and lines[0]["source"] == str(p)


def test_old_mac_line_ends(tmp_path: Path) -> None:
    df, _ = read_counted(write(tmp_path, "mac.csv", b'id,title\r1,a\r2,"b\rc"\r3,d'), 3)
    assert df["title"].tolist() == ["a", "b\rc", "d"]


def test_one_column_file_with_commas_in_values(tmp_path: Path) -> None:
    df, sink = read_counted(write(tmp_path, "one.csv", b"title\nRed shoe, size 42\nBlue hat; wool\n"), 2)
    assert sink.count == 0 and df["title"].tolist() == ["Red shoe, size 42", "Blue hat; wool"]


def test_reserved_columns_in_input_are_replaced(tmp_path: Path) -> None:
    df = read_catalogue(write(tmp_path, "r.csv", b"_row,_source,title\n99,elsewhere,a\n"))
    assert df[ROW_COL].tolist() == [1] and df[SOURCE_COL].tolist() == [str(tmp_path / "r.csv")]
    assert list(df.columns) == ["title", ROW_COL, SOURCE_COL]
