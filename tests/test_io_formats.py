"""Format and encoding sniffing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from skutag.catalogue.encoding import LineDecoder, detect_encoding
from skutag.catalogue.formats import FormatInfo, sniff_format
from skutag.errors import EmptyInputError, InputError, UnsupportedFormatError


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.csv", b"a,b\n1,2\n", FormatInfo("csv", None, ",")),
        ("a.txt", b"a\tb\n1\t2\n", FormatInfo("csv", None, "\t")),
        ("a.tsv", b"a\tb\n1\t2\n", FormatInfo("csv", None, "\t")),
        ("a", b"a;b;c\n1;2;3\n", FormatInfo("csv", None, ";")),
        ("a.data", b'{"a": 1}\n{"a": 2}\n', FormatInfo("jsonl")),
        ("a.json", b'{"a": 1}\n{"a": 2}\n', FormatInfo("jsonl")),
        ("a.jsonl", b'{"a": 1}', FormatInfo("jsonl")),
        ("a", b'{"items": [{"a": 1}]}', FormatInfo("json")),
        ("a.json", b'{"a": 1}', FormatInfo("json")),
        ("a.x", b'[\n {"a": 1}\n]', FormatInfo("json")),
        ("a.x", b'{\n "items": [{"a": 1}]\n}', FormatInfo("json")),
        # mtime=0: a gzip header holds the time, and every xdist worker must collect the same parameters
        ("a.csv", gzip.compress(b'{"a": 1}\n', mtime=0), FormatInfo("jsonl", "gzip")),
        ("a.gz", gzip.compress(b"a|b\n1|2\n", mtime=0), FormatInfo("csv", "gzip", "|")),
    ],
)
def test_sniff(tmp_path: Path, name: str, data: bytes, expected: FormatInfo) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    assert sniff_format(p) == expected


def test_sniff_parquet_by_magic(tmp_path: Path) -> None:
    p = tmp_path / "table.bin"
    pd.DataFrame({"a": [1]}).to_parquet(p)
    assert sniff_format(p) == FormatInfo("parquet")


def test_sniff_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        sniff_format(tmp_path / "missing.csv")
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(EmptyInputError, match="0 bytes"):
        sniff_format(tmp_path / "e.csv")
    (tmp_path / "x.json").write_text("id,title\n1,a\n")
    with pytest.raises(UnsupportedFormatError, match="does not hold json"):
        sniff_format(tmp_path / "x.json")
    (tmp_path / "z.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(UnsupportedFormatError):
        sniff_format(tmp_path / "z.png")


def test_forced_format(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text(json.dumps({"a": 1}) + "\n")
    assert sniff_format(p, "jsonl").fmt == "jsonl"
    assert sniff_format(p, "tsv") == FormatInfo("csv", None, "\t")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"plain ascii\n", "utf-8"),
        ("Grüße, 日本\n".encode(), "utf-8"),
        (b"\xef\xbb\xbfhello\n", "utf-8-sig"),
        ("hi\n".encode("utf-16"), "utf-16"),
        ("Crème brûlée, façade, naïve, Größe\n".encode("cp1252") * 20, "cp1252"),
        ("日本語の商品タイトル、送料無料\n".encode("shift_jis") * 20, "shift_jis"),
    ],
)
def test_detect_encoding(data: bytes, expected: str) -> None:
    assert (
        detect_encoding(data) in {expected, "cp932"} if expected == "shift_jis" else detect_encoding(data) == expected
    )


def test_truncated_utf8_sample_is_still_utf8() -> None:
    assert detect_encoding(("é" * 100).encode()[:-1]) == "utf-8"


def test_line_decoder_fallbacks() -> None:
    d = LineDecoder("utf-8")
    assert d.decode("Crème\n".encode()) == "Crème\n" and not d.last_fallback
    assert d.decode("Crème\n".encode("latin-1")) == "Crème\n" and d.last_fallback
    assert d.decode(b"mixed \xc3\xa9 and \xe9\n") == "mixed é and é\n" and d.fallback_lines == 2
    s = LineDecoder("cp1252")
    assert s.decode("Crème\n".encode("cp1252")) == "Crème\n" and not s.last_fallback
    assert s.decode("Grüße\n".encode()) == "Grüße\n" and s.last_fallback
