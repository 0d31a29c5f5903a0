"""Recognise a catalogue file's format (CSV/TSV/other delimiters, JSON, JSON Lines, Parquet) and compression."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from skutag.catalogue.encoding import bom_encoding
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


#: JSON sniffing looks at this many non-blank lines at most, parses lines of up to ``JSON_LINE_CAP``
#: characters (longer ones are skipped, keeping only their ends) and stops after ``JSON_SNIFF_BUDGET``
#: characters, so memory stays bounded whatever the line lengths.
JSON_SNIFF_LINES = 50
JSON_LINE_CAP = 1 << 20
JSON_SNIFF_BUDGET = 64 << 20
_UNPARSED = object()


@dataclass(frozen=True)
class _LineSample:
    """The first lines of a file: for each non-blank one, whether it holds one whole JSON value."""

    values: list[bool]
    complete: bool
    first: Any = _UNPARSED
    opens_document: bool = False


def _value_like(head: str, tail: str) -> bool:
    """A line too long to parse opens and closes with the same kind of bracket (a whole object or array)."""
    return (head.lstrip()[:1], tail.rstrip()[-1:]) in (("{", "}"), ("[", "]"))


def _read_line(fh: IO[str]) -> tuple[str, str, int]:
    """The next line's first :data:`JSON_LINE_CAP` characters, its last piece and its length; the rest of a
    longer line is read past in pieces, never held whole (a long line's last piece tells how it ends)."""
    head = tail = fh.readline(JSON_LINE_CAP)
    size = len(head)
    while not tail.endswith(("\n", "\r")) and size < JSON_SNIFF_BUDGET and (more := fh.readline(JSON_LINE_CAP)):
        size, tail = size + len(more), more
    return head, tail, size


def _sample_json_lines(path: Path, compression: Compression, encoding: str) -> _LineSample:
    """Classify the first :data:`JSON_SNIFF_LINES` non-blank lines, reading at most :data:`JSON_SNIFF_BUDGET`."""
    values: list[bool] = []
    first: Any = _UNPARSED
    opens = False
    read = 0
    try:
        with io.TextIOWrapper(open_binary(path, compression), encoding=encoding, errors="replace", newline="") as fh:
            while len(values) < JSON_SNIFF_LINES and read < JSON_SNIFF_BUDGET:
                line, tail, size = _read_line(fh)
                if not line:
                    return _LineSample(values, True, first, opens)
                read += size
                if not line.strip():
                    continue
                if not values:
                    opens = set(line.strip()) <= set("[{")
                if tail is not line:
                    values.append(_value_like(line, tail))
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    values.append(False)
                    continue
                if not values:
                    first = value
                values.append(True)
    except (OSError, EOFError, zlib.error):
        pass  # damage further on is the reader's to report
    return _LineSample(values, False, first, opens)


def _is_json_lines(sample: _LineSample) -> bool | None:
    """True when the first line is one whole JSON value (a JSON document cannot go on after it) or when most
    later lines are; False when the first line only opens brackets, as a pretty-printed document does; None
    for a single line, which says nothing either way.

    In a pretty-printed document only the last element of a container can stand alone on a line, and the
    line closing that container never parses, so such lines never outnumber the others (allowing one for a
    container cut by the end of the sample).
    """
    if len(sample.values) < 2:
        return None
    if sample.values[0] or sample.opens_document:
        return sample.values[0]
    later = sample.values[1:]
    ok = sum(later)
    return ok > len(later) - ok + (0 if sample.complete else 1)


def _holds_records(value: Any) -> bool:
    """An object with an array of objects under some key (a wrapped JSON document, not a JSON line)."""
    return isinstance(value, dict) and any(
        isinstance(v, list) and v and all(isinstance(x, dict) for x in v) for v in value.values()
    )


def _json_kind(path: Path, compression: Compression, head: bytes, ext_fmt: str | None, start: str) -> Format | None:
    """``jsonl`` or ``json`` from the first lines, not the first line alone; None when nothing looks like JSON.

    A ``.jsonl``/``.ndjson`` file is always read line by line (a bad first line is then rejected alone).
    """
    sample = _sample_json_lines(path, compression, bom_encoding(head) or "utf-8")
    opens = start in ("{", "[")
    if ext_fmt == "jsonl":
        return "jsonl" if opens or any(sample.values) else None
    lines = _is_json_lines(sample)
    if lines is None:
        first = sample.first
        lines = start == "{" and ext_fmt != "json" and first is not _UNPARSED and not _holds_records(first)
    if lines:
        return "jsonl"
    return "json" if opens else None


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
    start = text.lstrip()[:1]
    if ext_fmt in ("json", "jsonl") or start in ("{", "["):
        kind = _json_kind(p, compression, head, ext_fmt, start)
        if kind is not None:
            return FormatInfo(kind, compression)
    if ext_fmt in ("json", "jsonl", "parquet"):
        raise UnsupportedFormatError(f"named like {ext_fmt} but does not hold {ext_fmt} data", source=str(p))
    default = "\t" if ext_fmt == "tsv" else ","
    delimiter = sniff_delimiter(text, default)
    if ext_fmt == "tsv" and "\t" in text.splitlines()[0]:
        delimiter = "\t"
    return FormatInfo("csv", compression, delimiter)
