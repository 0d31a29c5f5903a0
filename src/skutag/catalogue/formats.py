"""Recognise a catalogue file's format (CSV/TSV/other delimiters, JSON, JSON Lines, Parquet) and compression."""

from __future__ import annotations

import bz2
import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from skutag.errors import EmptyInputError, InputError, UnsupportedFormatError

Format = Literal["csv", "json", "jsonl", "parquet"]
Compression = Literal["gzip", "bz2"] | None

FORMATS: tuple[str, ...] = ("csv", "tsv", "json", "jsonl", "parquet")
GZIP_MAGIC = b"\x1f\x8b"
BZ2_MAGIC = b"BZh"
PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",\t;|"
_EXT_FORMAT = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class FormatInfo:
    """What a file holds: ``fmt`` (csv covers every delimiter), its ``compression`` and CSV ``delimiter``."""

    fmt: Format
    compression: Compression = None
    delimiter: str = ","


def extension_format(path: str | Path) -> tuple[str | None, Compression]:
    """Format and compression implied by a file name alone (``x.tsv.gz`` -> ``("tsv", "gzip")``)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    compression: Compression = None
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        compression, suffixes = "gzip", suffixes[:-1]
    elif suffixes and suffixes[-1] == ".bz2":
        compression, suffixes = "bz2", suffixes[:-1]
    return (_EXT_FORMAT.get(suffixes[-1]) if suffixes else None), compression


def detect_compression(head: bytes) -> Compression:
    """Compression from the first bytes of a file (magic numbers, not the name)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZ2_MAGIC) and len(head) > 3 and head[3:4].isdigit():
        return "bz2"
    return None


def open_binary(path: str | Path, compression: Compression) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing on the fly."""
    if compression == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if compression == "bz2":
        return bz2.open(path, "rb")
    return open(path, "rb")


def _read_head(path: Path, compression: Compression, n: int = SNIFF_BYTES) -> bytes:
    try:
        with open_binary(path, compression) as fh:
            return fh.read(n)
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read {compression} data: {exc}", source=str(path)) from exc


def _strip_bom_text(head: bytes) -> str:
    for bom, enc in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(enc, errors="ignore")
    return head.decode("utf-8", errors="replace")


def _looks_like_jsonl(text: str, ext_fmt: str | None = None) -> bool:
    """A first line that is a whole JSON value, followed by another line starting a JSON value.

    A file of one line is JSON Lines unless named ``.json`` or its object holds an array of objects.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return False
    try:
        first = json.loads(lines[0])
    except ValueError:
        return False
    if len(lines) > 1:
        return lines[1].lstrip()[:1] in ("{", "[")
    if ext_fmt in ("json", "jsonl"):
        return ext_fmt == "jsonl"
    holds_records = isinstance(first, dict) and any(
        isinstance(v, list) and v and all(isinstance(x, dict) for x in v) for v in first.values()
    )
    return not holds_records


def _looks_binary(head: bytes) -> bool:
    """Control bytes that text never has in such numbers (UTF-16/32 text is recognised by its BOM)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return False
    sample = head[:4096]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13, 12))
    return controls > max(2, len(sample) // 20)


def sniff_delimiter(text: str, default: str = ",") -> str:
    """Delimiter of delimited text via :class:`csv.Sniffer` (restricted to , tab ; |), else ``default``.

    The header must hold the delimiter: a header without any candidate is a one-column file, and gets a
    delimiter that does not occur in the sample (so commas inside its values do not split them).
    """
    lines = text.splitlines()
    header = lines[0] if lines else ""
    in_header = {d: header.count(d) for d in _DELIMITERS if d in header}
    if not in_header:
        return next((d for d in (default, *_DELIMITERS) if d not in text), "\x1f")
    sample = "\n".join(lines[:-1] if len(lines) > 2 else lines)[:SNIFF_BYTES]
    try:
        found = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
        if found in in_header:
            return found
    except csv.Error:
        pass
    return max(in_header, key=lambda d: in_header[d])


def sniff_format(path: str | Path, fmt: str | None = None) -> FormatInfo:
    """Recognise ``path``'s format from its bytes (magic numbers and content), using the name only as a hint.

    ``fmt`` forces a format (``csv``, ``tsv``, ``json``, ``jsonl``, ``parquet``); compression is always
    detected. Raises :class:`InputError` for a missing file, :class:`EmptyInputError` for an empty one and
    :class:`UnsupportedFormatError` for anything else.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=str(p))
    if p.is_dir():
        raise InputError("is a directory, not a file", source=str(p))
    if fmt is not None and fmt.lower() not in FORMATS:
        raise UnsupportedFormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", source=str(p))
    with open(p, "rb") as fh:
        raw_head = fh.read(8)
    if not raw_head:
        raise EmptyInputError("file is empty (0 bytes)", source=str(p))
    compression = detect_compression(raw_head)
    ext_fmt, _ = extension_format(p)
    if raw_head.startswith(PARQUET_MAGIC) or (fmt or "").lower() == "parquet":
        if compression is not None:
            raise UnsupportedFormatError("compressed Parquet files are not supported", source=str(p))
        if not raw_head.startswith(PARQUET_MAGIC):
            raise UnsupportedFormatError("not a Parquet file (no PAR1 magic bytes)", source=str(p))
        return FormatInfo("parquet")
    head = _read_head(p, compression)
    text = _strip_bom_text(head)
    if not text.strip():
        raise EmptyInputError("file holds no data (only whitespace)", source=str(p))
    if fmt is not None:
        f = fmt.lower()
        if f == "tsv":
            return FormatInfo("csv", compression, "\t")
        if f == "csv":
            return FormatInfo("csv", compression, sniff_delimiter(text))
        return FormatInfo("jsonl" if f == "jsonl" else "json", compression)
    if head.startswith(b"PK\x03\x04"):
        raise UnsupportedFormatError("a ZIP archive (an Excel workbook?): export it as CSV", source=str(p))
    if _looks_binary(head):
        raise UnsupportedFormatError("binary data: not CSV, JSON, JSON Lines or Parquet", source=str(p))
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return FormatInfo("jsonl" if _looks_like_jsonl(stripped, ext_fmt) else "json", compression)
    if stripped.startswith("["):
        is_jsonl = ext_fmt == "jsonl" and _looks_like_jsonl(stripped, ext_fmt)
        return FormatInfo("jsonl" if is_jsonl else "json", compression)
    if ext_fmt in ("json", "jsonl", "parquet"):
        raise UnsupportedFormatError(f"named like {ext_fmt} but does not hold {ext_fmt} data", source=str(p))
    default = "\t" if ext_fmt == "tsv" else ","
    delimiter = sniff_delimiter(text, default)
    if ext_fmt == "tsv" and "\t" in text.splitlines()[0]:
        delimiter = "\t"
    return FormatInfo("csv", compression, delimiter)
