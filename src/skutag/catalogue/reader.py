"""Stream catalogues (CSV/TSV, JSON, JSON Lines, Parquet; plain, gzip or bz2) as DataFrame chunks.

Every chunk carries ``_row`` (1-based record number in its file: data records after the header for CSV, a
record whose quoted fields span several lines counting once; the physical line for JSON Lines, the element
index for a JSON array, the row for Parquet) and ``_source`` (the path as given); with ``lines=True`` also
``_line``, the file line a record starts on (the header is line 1; missing for JSON arrays and Parquet).
Values are ``str`` or missing (``None``/NaN): CSV fields are strings; JSON and Parquet scalars (numbers,
booleans, dates) are converted to strings (``true``/``false`` for booleans), while JSON lists and objects are
kept as Python lists/dicts. Parquet binary values are decoded here, so that every command sees the same text,
by the rules for text lines (UTF-8, else the column's detected encoding with the cp1252 fallback; see
:func:`skutag.catalogue.encoding.decode_value`). Empty strings count as missing in every format.

Bad records (wrong field count, broken quoting, invalid JSON, a JSON line that is not an object, a field
longer than ``max_field_chars``, a binary value that is not text) go to the :class:`RejectSink` with a
reason naming file, row, its lines and column, and reading continues; without a sink the first bad record
raises :class:`InputError`. For every file, rows yielded + rows rejected = records in the file (blank lines
are not records).

Damage policy: CSV is read by RFC 4180 (quoted fields may span lines; a quote inside one is doubled). A record
that breaks it (a bare quote inside a quoted field, a quote that is never closed) or parses into the wrong
number of fields is rejected as one record with its file lines, and reading re-synchronises on the next line
that starts a valid record: one that parses cleanly into the header's number of fields (and, when the first
fields of the records read so far all look like ids, whose first field does too). The lines in between (the
rest of a broken multi-line description, say) belong to the damaged record; records it had swallowed into a
runaway quoted field are read again. A JSON document (not JSON Lines) that breaks mid-way ends with one reject
covering the unreadable rest. Bytes that do not decode are kept (see :mod:`skutag.catalogue.encoding`) and the
rows holding them are listed in :class:`ReadStats` and logged; input columns named ``_row``/``_source`` are
replaced.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import gzip
import io
import json
import math
import re
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from skutag.catalogue.columns import missing_column_error
from skutag.catalogue.encoding import LineDecoder, decode_value, detect_encoding, normalise_encoding
from skutag.catalogue.formats import SNIFF_BYTES, FormatInfo, open_binary, sniff_format
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import LINE_COL, RESERVED_COLUMNS, ROW_COL, SOURCE_COL
from skutag.errors import EmptyInputError, InputError
from skutag.log import get_logger

log = get_logger(__name__)

_FALLBACK_ROWS_KEPT = 1000
_JSON_READ = 1 << 20
#: Files smaller than this get no progress bar.
PROGRESS_MIN_BYTES = 32 << 20
_CSV_BLOCK = 1 << 20
#: Lines a damaged CSV record may take before reading resumes regardless (bounds the search for the next record).
RESYNC_MAX_LINES = 1000
#: Good records whose first fields must all look like ids before a line whose first field does not is taken
#: for a fragment of a damaged record (rather than a record of its own).
_ID_MIN_RECORDS = 20
#: Good records the first-field shape is learnt on.
_ID_LEARN_RECORDS = 1000
_ID_LIKE = re.compile(r'[^\s"]{1,100}')
#: Why a binary value that does not decode is rejected.
BINARY_REASON = "the bytes are not text (not UTF-8, and they hold control bytes that text does not)"


@dataclass
class ReadStats:
    """What reading one file found: counts for the rows-in = rows-out + rejected contract, and decoding."""

    source: str
    fmt: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    records: int = 0
    rows: int = 0
    rejected: int = 0
    fallback_count: int = 0
    fallback_rows: list[int] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    def add_fallback(self, row: int) -> None:
        self.fallback_count += 1
        if len(self.fallback_rows) < _FALLBACK_ROWS_KEPT:
            self.fallback_rows.append(row)


@dataclass
class _Bad:
    reason: str
    column: str | None = None
    record: Any = None


# An event from a format parser: (record number, first file line or None, record or None, bad or None,
# fallback-decoded?). CSV records are lists of fields in header order (already checked for length); JSON
# records are dicts.
_Event = tuple[int, int | None, dict[str, Any] | list[str] | None, _Bad | None, bool]


def iter_catalogue(
    path: str | Path,
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    chunksize: int = 50_000,
    rejects: RejectSink | None = None,
    max_field_chars: int = 1_000_000,
    usecols: Sequence[str] | None = None,
    stats: ReadStats | None = None,
    lines: bool = False,
    source: str | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield ``path`` as DataFrame chunks of at most ``chunksize`` rows, never holding the whole file.

    ``fmt`` forces a format (csv, tsv, json, jsonl, parquet) and ``encoding`` a text encoding; both are
    detected otherwise. ``usecols`` keeps only those columns (plus ``_row``/``_source``). ``stats``, when
    given, is filled with counts, the encoding and the rows decoded with a fallback encoding. ``lines`` adds
    ``_line``, the file line each record starts on (nullable integers; missing for JSON arrays and Parquet).
    At least one chunk is yielded (empty, with the columns, when every record was rejected). ``source`` names
    the file in ``_source``, rejects and errors (default: ``path`` as given; a local copy of an object-store
    file keeps its URI).
    """
    if chunksize < 1:
        raise InputError(f"chunksize must be >= 1, got {chunksize}", source=source or str(path))
    source = source if source is not None else str(path)
    info = sniff_format(path, fmt)
    st = stats if stats is not None else ReadStats(source)
    st.source, st.fmt = source, info.fmt if info.delimiter != "\t" else "tsv"
    if info.fmt == "parquet":
        for df in _iter_parquet(Path(path), source, chunksize, rejects, max_field_chars, usecols, st):
            if lines:
                df[LINE_COL] = pd.Series([None] * len(df), dtype="Int64")
            yield df
        return
    with open_binary(path, info.compression) as fh:
        head = fh.read(SNIFF_BYTES)
    enc = normalise_encoding(encoding) if encoding else detect_encoding(head)
    st.encoding = enc
    cr_only = b"\r" in head and b"\n" not in head and not enc.startswith(("utf-16", "utf-32"))
    try:
        yield from _iter_text(path, info, enc, cr_only, source, chunksize, rejects, max_field_chars, usecols, st, lines)
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise InputError(f"cannot read the file ({info.compression or 'plain'}): {exc}", source=source) from exc
    if st.fallback_count:
        log.warning(
            "%s: %d row(s) held bytes that are not %s and were decoded with a fallback (first rows: %s)",
            source,
            st.fallback_count,
            enc,
            ", ".join(map(str, st.fallback_rows[:10])),
        )


def _iter_text(
    path: str | Path,
    info: FormatInfo,
    enc: str,
    cr_only: bool,
    source: str,
    chunksize: int,
    rejects: RejectSink | None,
    max_field_chars: int,
    usecols: Sequence[str] | None,
    st: ReadStats,
    lines: bool = False,
) -> Iterator[pd.DataFrame]:
    raw = open(path, "rb")  # noqa: SIM115 - closed below; its position drives the progress bar
    try:
        fh: IO[bytes] = raw
        if info.compression == "gzip":
            fh = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        elif info.compression == "bz2":
            fh = bz2.BZ2File(raw)
        if info.fmt == "csv":
            st.delimiter = info.delimiter
            header, events = _csv_events(fh, enc, cr_only, info, source, max_field_chars, usecols)
            chunks = _batches(events, header, source, chunksize, rejects, max_field_chars, usecols, st, lines)
        elif info.fmt == "jsonl":
            events = _jsonl_events(fh, enc, cr_only)
            chunks = _batches(events, None, source, chunksize, rejects, max_field_chars, usecols, st, lines)
        else:
            events = _json_events(fh, enc, source, max_field_chars)
            chunks = _batches(events, None, source, chunksize, rejects, max_field_chars, usecols, st, lines)
        size = Path(path).stat().st_size
        with tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=Path(path).name,
            leave=False,
            disable=True if size < PROGRESS_MIN_BYTES else None,
        ) as bar:
            for chunk in chunks:
                if not raw.closed:  # a UTF-16 text wrapper closes it when done
                    bar.update(raw.tell() - bar.n)
                yield chunk
        if fh is not raw:
            fh.close()
    finally:
        raw.close()


def read_catalogue(paths: str | Path | Sequence[str | Path], **kwargs: Any) -> pd.DataFrame:
    """Read one or several files (same options as :func:`iter_catalogue`) into one DataFrame.

    Columns are the union over files; a ``stats`` object passed in accumulates counts over all files.
    """
    items: list[str | Path] = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise InputError("no input files given")
    frames = [chunk for p in items for chunk in iter_catalogue(p, **kwargs)]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)


# ----------------------------------------------------------------------------------------------- batching


def _batches(
    events: Iterable[_Event],
    header: list[str] | None,
    source: str,
    chunksize: int,
    rejects: RejectSink | None,
    max_field_chars: int,
    usecols: Sequence[str] | None,
    st: ReadStats,
    want_lines: bool = False,
) -> Iterator[pd.DataFrame]:
    keep = set(usecols) if usecols is not None else None
    columns: dict[str, None] = dict.fromkeys(header) if header is not None else {}
    if keep is not None:
        columns = dict.fromkeys(c for c in (usecols or ()) if c not in RESERVED_COLUMNS)
    if header is not None:
        if any(h in RESERVED_COLUMNS for h in header):
            log.info("%s: input columns %s are replaced by the reader's own", source, RESERVED_COLUMNS)
        picks = [i for i, h in enumerate(header) if h in columns and h not in RESERVED_COLUMNS]
        names = [header[i] for i in picks]
    rows: list[Any] = []
    nums: list[int] = []
    lns: list[int | None] | None = [] if want_lines else None
    yielded = False
    for num, line, rec, bad, fallback in events:
        st.records += 1
        if fallback:
            st.add_fallback(num)
        if isinstance(rec, dict) and bad is None:
            bad = _check_record(rec, max_field_chars)
        if bad is not None:
            st.rejected += 1
            if rejects is None:
                raise InputError(bad.reason, source=source, row=num, column=bad.column)
            rejects.add(bad.reason, source=source, row=num, column=bad.column, record=_shorten(bad.record), line=line)
            continue
        assert rec is not None
        if isinstance(rec, list):
            pass
        elif keep is not None:
            rec = {k: v for k, v in rec.items() if k in keep}
        elif header is None:
            for k in rec:
                if k not in columns:
                    columns[k] = None
        rows.append(rec)
        nums.append(num)
        if lns is not None:
            lns.append(line)
        if len(rows) >= chunksize:
            df = _list_frame(rows, nums, picks, names, source) if header else _frame(rows, nums, list(columns), source)
            yield _with_lines(df, lns)
            st.rows += len(rows)
            yielded = True
            rows, nums = [], []
            lns = [] if lns is not None else None
    st.columns = list(columns)
    if st.records == 0:
        what = "a header but no data rows" if header else "no records"
        raise EmptyInputError(f"file holds {what}", source=source)
    if rows or not yielded:
        st.rows += len(rows)
        df = _list_frame(rows, nums, picks, names, source) if header else _frame(rows, nums, list(columns), source)
        yield _with_lines(df, lns)


def _with_lines(df: pd.DataFrame, lns: list[int | None] | None) -> pd.DataFrame:
    if lns is not None:
        df[LINE_COL] = pd.Series(lns, dtype="Int64")
    return df


def _list_frame(
    rows: list[list[str]], nums: list[int], picks: list[int], names: list[str], source: str
) -> pd.DataFrame:
    """A chunk from CSV field lists; empty fields become missing."""
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in range(max(picks, default=-1) + 1)]
    data: dict[str, pd.Series] = {}
    for i, name in zip(picks, names, strict=True):
        s = pd.Series(cols[i] if rows else [], dtype="str")
        data[name] = s.mask(s == "")
    df = pd.DataFrame(data, columns=names)
    df[ROW_COL] = pd.Series(nums, dtype="int64")
    df[SOURCE_COL] = pd.Series([source] * len(rows), dtype="str")
    return df


def _frame(rows: list[dict[str, Any]], nums: list[int], columns: list[str], source: str) -> pd.DataFrame:
    cols = [c for c in columns if c not in RESERVED_COLUMNS]
    data: dict[str, Any] = {c: [r.get(c) for r in rows] for c in cols}
    df = pd.DataFrame(data, columns=cols) if rows else pd.DataFrame({c: pd.Series([], dtype="str") for c in cols})
    for c in cols:
        if df[c].dtype == object and all(v is None for v in data.get(c, ())):
            df[c] = pd.Series([None] * len(df), dtype="str")
    df[ROW_COL] = pd.Series(nums, dtype="int64")
    df[SOURCE_COL] = pd.Series([source] * len(rows), dtype="str")
    return df


def _check_record(rec: dict[str, Any], limit: int) -> _Bad | None:
    for k, v in rec.items():
        if isinstance(v, str) and len(v) > limit:
            return _Bad(f"field too long: {len(v):,} characters > max_field_chars={limit:,}", k, rec)
    return None


def _shorten(record: Any, limit: int = 500) -> Any:
    """A copy of a rejected record small enough for a rejects file."""
    if isinstance(record, str):
        return record if len(record) <= limit else record[:limit] + f"… [{len(record):,} characters]"
    if isinstance(record, dict):
        return {str(k): _shorten(v, limit) for k, v in record.items()}
    if isinstance(record, list):
        return [_shorten(v, limit) for v in record[:100]]
    return record


def _scalar(v: Any) -> Any:
    """JSON value -> the reader's value policy (strings, missing, or kept lists/dicts)."""
    if v is None or isinstance(v, list | dict):
        return v
    if isinstance(v, str):
        return v if v else None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    return str(v)


# -------------------------------------------------------------------------------------------------- CSV


def _line_source(
    fh: IO[bytes], enc: str, cr_only: bool = False
) -> tuple[Iterator[bytes] | Iterator[str], LineDecoder | None]:
    if enc.startswith(("utf-16", "utf-32")):
        text = io.TextIOWrapper(fh, encoding=enc, newline="", errors="replace")
        return iter(text), None
    return (_cr_lines(fh) if cr_only else iter(fh)), LineDecoder(enc)


def _cr_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Physical lines of a file with old Mac line ends (a lone CR)."""
    rest = b""
    while block := fh.read(1 << 20):
        parts = (rest + block).split(b"\r")
        rest = parts.pop()
        for part in parts:
            yield part + b"\r"
    if rest:
        yield rest


def _unique_header(names: list[str], source: str) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names, start=1):
        base = name.strip() or f"column_{i}"
        cand, n = base, 1
        while cand in seen:
            cand, n = f"{base}.{n}", n + 1
        if cand != name:
            log.warning("%s: header column %d %r renamed to %r", source, i, name, cand)
        seen.add(cand)
        out.append(cand)
    return out


def _split_text(text: str, cr_only: bool) -> list[str]:
    """Lines of ``text`` split on LF only (CR for old Mac files), ends kept; other separators stay inside."""
    return list(io.StringIO(text, newline="\r" if cr_only else "\n"))


def _split_bytes(data: bytes, sep: bytes) -> list[bytes]:
    parts = data.split(sep)
    lines = [p + sep for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


# A block of decoded physical lines, with per-line fallback flags (None when no line needed one).
_Block = tuple[list[str], list[bool] | None]


def _text_blocks(fh: IO[bytes], enc: str, cr_only: bool) -> Iterator[_Block]:
    """Decoded lines in blocks of about ``_CSV_BLOCK`` bytes; whole blocks are decoded at once when they can be."""
    if enc.startswith(("utf-16", "utf-32")):
        wrapper = io.TextIOWrapper(fh, encoding=enc, newline="", errors="replace")
        while text_lines := wrapper.readlines(_CSV_BLOCK):
            yield text_lines, None
        return
    decoder = LineDecoder(enc)
    utf8 = decoder.encoding in ("utf-8", "utf-8-sig")
    sep = b"\r" if cr_only else b"\n"
    rest = b""
    first = True
    while True:
        chunk = fh.read(_CSV_BLOCK)
        data = rest + chunk
        if chunk:
            cut = data.rfind(sep)
            if cut < 0:
                rest = data
                continue
            body, rest = data[: cut + 1], data[cut + 1 :]
        else:
            body, rest = data, b""
            if not body:
                return
        if first:
            first = False
            body = body.removeprefix(codecs.BOM_UTF8)
        text: str | None = None
        if utf8 or body.isascii():
            with contextlib.suppress(UnicodeDecodeError):
                text = body.decode("utf-8" if utf8 else "ascii")
        if text is not None:
            yield _split_text(text, cr_only), None
        else:
            lines: list[str] = []
            flags: list[bool] = []
            for raw in _split_bytes(body, sep):
                lines.append(decoder.decode(raw))
                flags.append(decoder.last_fallback)
            yield lines, (flags if any(flags) else None)
        if not chunk:
            return


# A parsed CSV record: fields (None when damaged), the reject reason, first and last physical line, the
# block's lines with the record's slice [a, b) (for rejects), and whether a line of it was fallback-decoded.
_CsvRec = tuple[list[str] | None, str | None, int, int, list[str], int, int, bool]


def _span(first: int, last: int) -> str:
    return f"line {first}" if first >= last else f"lines {first}-{last}"


class _FirstFields:
    """What the first fields of the good records look like: ids (one short token) or anything. Learnt on
    the first :data:`_ID_LEARN_RECORDS` good records."""

    __slots__ = ("id_like", "learning", "seen")

    def __init__(self) -> None:
        self.seen = 0
        self.id_like = True
        self.learning = True

    def learn(self, first: str) -> None:
        self.seen += 1
        self.id_like = _ID_LIKE.fullmatch(first) is not None
        self.learning = self.id_like and self.seen < _ID_LEARN_RECORDS

    @property
    def tell(self) -> bool:
        """Whether a line's first field tells a record from a fragment of one."""
        return self.id_like and self.seen >= _ID_MIN_RECORDS


def _first_field(line: str, delimiter: str) -> str:
    """The first field of a line, roughly (for telling records from fragments, never for reading)."""
    if line.startswith('"'):
        end = line.find('"', 1)
        return line[1:end] if end > 0 else line[1:]
    cut = line.find(delimiter)
    return (line if cut < 0 else line[:cut]).rstrip("\r\n")


def _reader(lines: list[str], start: int, stop: int, delimiter: str) -> Any:
    return csv.reader((lines[i] for i in range(start, stop)), delimiter=delimiter, strict=True)


def _starts_record(
    lines: list[str], at: int, width: int, delimiter: str, firsts: _FirstFields, final: bool
) -> bool | None:
    """Whether a record starts on ``lines[at]``, after a damaged one: True when it parses cleanly into
    ``width`` fields (with an id-like first field where the first fields tell), or, where they tell, when
    its first field looks like an id though the record is damaged too (a record of its own); False for a
    fragment or a blank line; None when the block ends before that can be told (and it is not ``final``)."""
    line = lines[at]
    if not line.strip(" \r\n"):
        return False
    if firsts.tell and _ID_LIKE.fullmatch(_first_field(line, delimiter)) is None:
        return False
    stop = min(len(lines), at + RESYNC_MAX_LINES)
    try:
        fields = next(_reader(lines, at, stop, delimiter))
    except StopIteration:
        return False
    except csv.Error as exc:
        if str(exc).startswith("unexpected end of data") and stop == len(lines) and not final:
            return None
        return firsts.tell
    return len(fields) == width or firsts.tell


def _resync(
    lines: list[str],
    a: int,
    e: int,
    width: int,
    delimiter: str,
    firsts: _FirstFields,
    final: bool,
    absorb: bool,
) -> int | None:
    """Where reading resumes after a damaged record that starts on ``lines[a]`` and whose parse stopped
    before ``lines[e]``: the first line after ``a`` that starts a record (:func:`_starts_record`); the lines
    before it are the damaged record's. Past ``e`` lines are taken in only when ``absorb`` (a quote error:
    the parse stopped inside the record; or a fragment can be told from a record). None when the block ends
    first (and it is not ``final``): the caller carries the lines into the next block."""
    at = a + 1
    while True:
        if at >= e and not absorb:
            return e
        if at - a >= RESYNC_MAX_LINES:
            return max(at, e)
        if at >= len(lines):
            return at if final else None
        found = _starts_record(lines, at, width, delimiter, firsts, final)
        if found is None:
            return None
        if found:
            return at
        at += 1


def _fits(lines: list[str], a: int, hard_limit: int) -> bool:
    """Whether ``lines[a:]`` may be carried into the next block."""
    return sum(map(len, lines[a:])) <= hard_limit


def _resync_in_block(
    lines: list[str],
    a: int,
    e: int,
    width: int,
    delimiter: str,
    firsts: _FirstFields,
    last: bool,
    absorb: bool,
    hard_limit: int,
) -> int | None:
    """:func:`_resync`, deciding with the lines at hand when they are too many to carry."""
    end = _resync(lines, a, e, width, delimiter, firsts, last, absorb)
    if end is None and not _fits(lines, a, hard_limit):
        end = _resync(lines, a, e, width, delimiter, firsts, True, absorb)
    return end


def _csv_parse(blocks: Iterator[_Block], delimiter: str, hard_limit: int) -> Iterator[_CsvRec]:
    """Records of delimited text, block by block, with a fresh :mod:`csv` reader per block.

    A record cut by a block end (inside a quoted field) is carried into the next block. The first record
    with a value is the header; it sets the number of fields. A damaged record (a quote error, the wrong
    number of fields) ends where the next record starts (:func:`_resync`) and is reported as one, with its
    lines; reading resumes there.
    """
    carry: list[str] = []
    carry_flags: list[bool] = []
    carry_base = 1
    next_base = 1
    width: int | None = None
    firsts = _FirstFields()
    pending = next(blocks, None)
    while pending is not None:
        lines, flags = pending
        pending = next(blocks, None)
        last = pending is None
        base = next_base
        next_base += len(lines)
        if carry:
            if flags is not None or any(carry_flags):
                flags = carry_flags + (flags if flags is not None else [False] * len(lines))
            lines, base = carry + lines, carry_base
            carry, carry_flags = [], []
        n_lines = len(lines)

        pos = 0
        reader = _reader(lines, 0, n_lines, delimiter)
        while True:
            before = reader.line_num
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                a, b = pos + before, pos + reader.line_num
                msg = str(exc)
                if msg.startswith("unexpected end of data") and not last and _fits(lines, a, hard_limit):
                    end: int | None = None
                elif width is None or "field larger than field limit" in msg:
                    fb = flags is not None and any(flags[a:b])
                    yield (
                        None,
                        f"unparseable CSV: {msg} ({_span(base + a, base + b - 1)})",
                        base + a,
                        base + b - 1,
                        lines,
                        a,
                        b,
                        fb,
                    )
                    continue
                else:
                    end = _resync_in_block(lines, a, b, width, delimiter, firsts, last, True, hard_limit)
                if end is None:
                    carry, carry_base = lines[a:], base + a
                    carry_flags = flags[a:] if flags is not None else [False] * len(carry)
                    break
                fb = flags is not None and any(flags[a:end])
                reason = (
                    f"broken quoting: {msg} (line {base + b - 1}); the record at {_span(base + a, base + end - 1)} "
                    "is rejected alone"
                )
                yield None, reason, base + a, base + end - 1, lines, a, end, fb
                pos = end
                reader = _reader(lines, pos, n_lines, delimiter)
                continue
            a, b = pos + before, pos + reader.line_num
            fb = flags is not None and any(flags[a:b])
            if width is None:
                if fields and any(f.strip() for f in fields):
                    width = len(fields)
                yield fields, None, base + a, base + b - 1, lines, a, b, fb
                continue
            if len(fields) == width:
                if firsts.learning and (width > 1 or fields[0].strip()):
                    firsts.learn(fields[0])
                yield fields, None, base + a, base + b - 1, lines, a, b, fb
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):  # a blank line
                yield fields, None, base + a, base + b - 1, lines, a, b, fb
                continue
            end = b
            if b - a > 1 or firsts.tell:
                end = _resync_in_block(lines, a, b, width, delimiter, firsts, last, firsts.tell, hard_limit)
            if end is None:
                carry, carry_base = lines[a:], base + a
                carry_flags = flags[a:] if flags is not None else [False] * len(carry)
                break
            fb = flags is not None and any(flags[a:end])
            reason = (
                f"wrong field count: expected {width} fields, found {len(fields)} ({_span(base + a, base + end - 1)})"
            )
            yield None, reason, base + a, base + end - 1, lines, a, end, fb
            if end != b:
                pos = end
                reader = _reader(lines, pos, n_lines, delimiter)


def _csv_events(
    fh: IO[bytes],
    enc: str,
    cr_only: bool,
    info: FormatInfo,
    source: str,
    max_field_chars: int,
    usecols: Sequence[str] | None,
) -> tuple[list[str], Iterator[_Event]]:
    hard_limit = min(sys.maxsize, max(16 * max_field_chars, 1 << 26))
    if csv.field_size_limit() < hard_limit:
        csv.field_size_limit(hard_limit)
    records = _csv_parse(_text_blocks(fh, enc, cr_only), info.delimiter, hard_limit)
    header: list[str] | None = None
    try:
        for fields, error, first, _, _, _, _, _ in records:
            if error is not None:
                raise InputError(f"unreadable header (line {first}): {error}", source=source)
            if fields and any(f.strip() for f in fields):
                header = _unique_header(fields, source)
                break
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot decode as {enc}: {exc}", source=source) from exc
    if header is None:
        raise EmptyInputError("file holds no header and no rows", source=source)
    if usecols is not None:
        for c in usecols:
            if c not in header and c not in RESERVED_COLUMNS:
                raise missing_column_error(c, header, source)
    return header, _csv_records(records, header, max_field_chars)


def _csv_records(records: Iterator[_CsvRec], header: list[str], limit: int) -> Iterator[_Event]:
    """Events from parsed records: blank lines skipped, records numbered, long fields rejected."""
    n = len(header)
    num = 0
    for fields, error, first, last, lines, a, b, fallback in records:
        if fields is not None and (not fields or (len(fields) == 1 and n > 1 and not fields[0].strip())):
            continue  # a blank line is not a record
        num += 1
        bad: _Bad | None = None
        if error is not None:
            bad = _Bad(error)
        elif fields is not None and len(fields) != n:  # the parser checks this; kept as a guard
            bad = _Bad(f"wrong field count: expected {n} fields, found {len(fields)} ({_span(first, last)})")
        elif fields is not None and max(map(len, fields)) > limit:
            bad = _check_record(dict(zip(header, fields, strict=True)), limit)
            if bad is not None:
                bad.reason = f"{bad.reason} ({_span(first, last)})"
        if bad is None:
            yield num, first, fields, None, fallback
            continue
        record = bad.record if bad.column else "".join(lines[a:b]).rstrip("\r\n")
        yield num, first, None, _Bad(bad.reason, bad.column, record), fallback


# ------------------------------------------------------------------------------------------- JSON Lines


def _jsonl_events(fh: IO[bytes], enc: str, cr_only: bool = False) -> Iterator[_Event]:
    lines, decoder = _line_source(fh, enc, cr_only)
    for lineno, raw in enumerate(lines, start=1):
        text = decoder.decode(raw) if decoder is not None and isinstance(raw, bytes) else str(raw)
        fallback = decoder.last_fallback if decoder is not None else False
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            yield lineno, lineno, None, _Bad(f"invalid JSON: {exc}", record=text.rstrip("\r\n")), fallback
            continue
        if not isinstance(value, dict):
            kind = type(value).__name__ if value is not None else "null"
            yield lineno, lineno, None, _Bad(f"not an object: the JSON line is a {kind}", record=value), fallback
            continue
        yield lineno, lineno, {str(k): _scalar(v) for k, v in value.items()}, None, fallback


# ------------------------------------------------------------------------------------------------- JSON


class _JsonStream:
    """Incremental reader of one JSON document: an array of objects, or an object holding such an array."""

    def __init__(self, fh: IO[bytes], enc: str, source: str, max_value_chars: int) -> None:
        self._decoder = codecs.getincrementaldecoder(enc)(errors="strict")
        self._fh = fh
        self._enc = enc
        self.source = source
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.fallback_chunks = 0
        self._max = max(16 * max_value_chars, 1 << 26)
        self._json = json.JSONDecoder()

    def fill(self) -> bool:
        if self.eof:
            return False
        raw = self._fh.read(max(_JSON_READ, len(self.buf)))
        final = not raw
        try:
            text = self._decoder.decode(raw, final)
        except UnicodeDecodeError:
            self.fallback_chunks += 1
            self._decoder.reset()
            text = raw.decode(self._enc, errors="skutag-cp1252")
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        if final:
            self.eof = True
        return True

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n\ufeff":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def expect(self, chars: str) -> str:
        c = self.peek()
        if c == "" or c not in chars:
            found = repr(c) if c else "end of file"
            raise ValueError(f"expected one of {chars!r}, found {found}")
        self.pos += 1
        return c

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = self._json.raw_decode(self.buf, self.pos)
                # A number at the end of the buffer may continue in the next read.
                if end == len(self.buf) and not self.eof and self.fill():
                    continue
                self.pos = end
                return value
            except json.JSONDecodeError:
                if self.eof or len(self.buf) - self.pos > self._max or not self.fill():
                    raise


def _json_events(fh: IO[bytes], enc: str, source: str, max_field_chars: int) -> Iterator[_Event]:
    stream = _JsonStream(fh, enc, source, max_field_chars)
    num = 0
    try:
        first = stream.expect("[{")
        if first == "{":
            found = False
            while stream.peek() != "}":
                key = stream.value()
                stream.expect(":")
                if stream.peek() == "[" and not found:
                    stream.expect("[")
                    if stream.peek() == "{":
                        log.debug("%s: reading the records under key %r", source, key)
                        found = True
                        for ev in _json_array(stream):
                            num = ev[0]
                            yield ev
                    else:
                        _skip_array(stream)
                else:
                    if found and stream.peek() == "[":
                        log.warning("%s: ignoring a second array under key %r", source, key)
                    stream.value()
                if stream.expect(",}") == "}":
                    break
            if not found:
                raise InputError("JSON object holds no array of objects (records)", source=source)
        else:
            for ev in _json_array(stream):
                num = ev[0]
                yield ev
        if stream.peek() != "":
            raise ValueError("unexpected data after the end of the JSON document")
    except (ValueError, RecursionError) as exc:
        reason = f"invalid JSON: {exc} (after record {num}); the rest of the file cannot be read"
        yield num + 1, None, None, _Bad(reason), False
    if stream.fallback_chunks:
        log.warning("%s: bytes that are not %s were decoded with cp1252", source, enc)


def _skip_array(stream: _JsonStream) -> None:
    """Skip the rest of an array whose ``[`` was just read."""
    if stream.peek() == "]":
        stream.expect("]")
        return
    while True:
        stream.value()
        if stream.expect(",]") == "]":
            return


def _json_array(stream: _JsonStream) -> Iterator[_Event]:
    num = 0
    if stream.peek() == "]":
        stream.expect("]")
        return
    while True:
        num += 1
        value = stream.value()
        if isinstance(value, dict):
            yield num, None, {str(k): _scalar(v) for k, v in value.items()}, None, False
        else:
            kind = type(value).__name__ if value is not None else "null"
            yield num, None, None, _Bad(f"not an object: the JSON array element is a {kind}", record=value), False
        if stream.expect(",]") == "]":
            return


# ---------------------------------------------------------------------------------------------- Parquet


def _iter_parquet(
    path: Path,
    source: str,
    chunksize: int,
    rejects: RejectSink | None,
    max_field_chars: int,
    usecols: Sequence[str] | None,
    st: ReadStats,
) -> Iterator[pd.DataFrame]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"unreadable Parquet file: {exc}", source=source) from exc
    names = [n for n in pf.schema_arrow.names]
    if usecols is not None:
        for c in usecols:
            if c not in names and c not in RESERVED_COLUMNS:
                raise missing_column_error(c, names, source)
    cols = [c for c in (usecols if usecols is not None else names) if c not in RESERVED_COLUMNS]
    st.columns = list(cols)
    if pf.metadata.num_rows == 0:
        raise EmptyInputError("file holds no rows", source=source)
    encodings: dict[str, str] = {}
    start = 0
    for batch in pf.iter_batches(batch_size=chunksize, columns=cols):
        n = batch.num_rows
        bad: dict[int, tuple[str, str]] = {}
        out: dict[str, Any] = {}
        for name, arr in zip(batch.schema.names, batch.columns, strict=True):
            values = _arrow_to_values(arr)
            if _is_binary(values.type):
                values, undecodable, odd = _binary_as_text(values, name, encodings)
                for i in undecodable:
                    bad.setdefault(i, (f"binary data: {BINARY_REASON}", name))
                for i in odd:
                    st.add_fallback(start + i + 1)
            if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
                lengths = pc.fill_null(pc.utf8_length(values), 0).to_pylist()
                for i, ln in enumerate(lengths):
                    if ln > max_field_chars:
                        reason = f"field too long: {ln:,} characters > max_field_chars={max_field_chars:,}"
                        bad.setdefault(i, (reason, name))
                out[name] = pd.Series(values.to_pandas(), dtype="str") if n else pd.Series([], dtype="str")
            else:
                out[name] = pd.Series(values.to_pylist(), dtype=object)
        for i, (reason, column) in sorted(bad.items()):
            st.rejected += 1
            if rejects is None:
                raise InputError(reason, source=source, row=start + i + 1, column=column)
            record = _shorten(batch.slice(i, 1).to_pylist()[0])
            rejects.add(reason, source=source, row=start + i + 1, column=column, record=record)
        df = pd.DataFrame(out, columns=cols)
        df[ROW_COL] = pd.Series(range(start + 1, start + n + 1), dtype="int64")
        df[SOURCE_COL] = pd.Series([source] * n, dtype="str")
        st.records += n
        start += n
        if bad:
            df = df.drop(index=list(bad)).reset_index(drop=True)
        st.rows += len(df)
        yield df
    if st.fallback_count:
        log.warning(
            "%s: %d binary value(s) were not UTF-8 and were decoded with a fallback (%s; first rows: %s)",
            source,
            st.fallback_count,
            ", ".join(f"{c}: {'cp1252' if e.startswith('utf-8') else e}" for c, e in encodings.items()),
            ", ".join(map(str, st.fallback_rows[:10])),
        )


def _is_binary(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t))


def _binary_as_text(values: pa.Array, column: str, encodings: dict[str, str]) -> tuple[pa.Array, list[int], list[int]]:
    """A binary column as text, decoded like the lines of a text file (see :func:`decode_value`): the text,
    the positions of values that are not text (missing here; their rows are rejected) and of values that
    are text but not UTF-8 (reported like fallback-decoded lines).

    The column's legacy encoding is detected once, on the first batch's values that are not UTF-8, as a
    text file's is on its first bytes.
    """
    raw: list[bytes | None] = values.to_pylist()
    if column not in encodings:
        odd_values = [b for b in raw if b is not None and not _is_utf8(b)]
        if odd_values:
            encodings[column] = detect_encoding(b"\n".join(odd_values)[: 256 * 1024])
    enc = encodings.get(column, "utf-8")
    texts: list[str | None] = []
    undecodable: list[int] = []
    odd: list[int] = []
    for i, b in enumerate(raw):
        decoded = decode_value(b, enc) if b is not None else ("", False)
        if decoded is None:
            undecodable.append(i)
            texts.append(None)
            continue
        if decoded[1]:
            odd.append(i)
        texts.append(decoded[0] or None)
    return pa.array(texts, type=pa.string()), undecodable, odd


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _arrow_to_values(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Scalars -> strings ('' -> null); nested values stay nested."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_nested(t):
        return arr
    if pa.types.is_boolean(t):
        arr = pc.if_else(arr, "true", "false")
    elif not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        try:
            arr = arr.cast(pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            return arr
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


__all__ = ["ReadStats", "iter_catalogue", "read_catalogue"]
