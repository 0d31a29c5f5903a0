"""Text encoding: detect it on a sample (BOM aware), and decode line by line without ever losing a line.

Policy for bytes that do not decode in the detected encoding: the line is kept; only the offending bytes
are decoded with cp1252 (Latin-1 for the five bytes cp1252 leaves undefined), and the line is counted as
*fallback-decoded* so the reader can report it. Conversely, in a file detected as a single-byte legacy
encoding (cp1252, latin-1, ...), a non-ASCII line that is valid UTF-8 is decoded as UTF-8. So a file that
mixes UTF-8 and Latin-1 lines comes out readable either way, and every line decoded differently from the
rest is reported.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

FALLBACK_ERRORS = "skutag-cp1252"
#: Below this many non-ASCII bytes in a sample, detection is not attempted (UTF-8 with fallback instead).
MIN_NON_ASCII = 32
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Encodings trusted from detection; anything else detected on a sample is taken as cp1252.
COMMON_ENCODINGS = frozenset(
    codecs.lookup(n).name
    for n in (
        "utf-8",
        "utf-8-sig",
        "utf-16",
        "utf-32",
        "cp1252",
        "latin-1",
        "iso8859-15",
        "cp1250",
        "cp1251",
        "cp1253",
        "cp1254",
        "cp1255",
        "cp1256",
        "cp1257",
        "cp1258",
        "iso8859-2",
        "iso8859-5",
        "iso8859-7",
        "iso8859-9",
        "koi8-r",
        "koi8-u",
        "gb18030",
        "gbk",
        "gb2312",
        "big5",
        "big5hkscs",
        "shift_jis",
        "cp932",
        "euc_jp",
        "euc_kr",
        "cp949",
        "iso2022_jp",
        "tis-620",
        "cp874",
    )
)
_SINGLE_BYTE_PREFIXES = ("cp125", "windows-125", "latin", "iso8859", "iso-8859", "mac", "cp437", "cp850", "koi8")


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(
        bytes([b]).decode("cp1252", errors="strict") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b) for b in bad
    ), exc.end


codecs.register_error(FALLBACK_ERRORS, _cp1252_fallback)


def bom_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark announces, or None."""
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc
    return None


def normalise_encoding(name: str) -> str:
    """Python's canonical codec name (``UTF8`` -> ``utf-8``); unknown names are returned lower-cased."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


def detect_encoding(sample: bytes) -> str:
    """Best encoding for ``sample``: a BOM wins, then strict UTF-8, then charset-normalizer, else cp1252."""
    bom = bom_encoding(sample)
    if bom is not None:
        return bom
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is not an error.
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    if sum(1 for b in sample if b > 0x7F) < MIN_NON_ASCII:
        # Too little evidence for a guess: read as UTF-8, decoding (and reporting) odd lines with cp1252.
        return "utf-8"
    matches = from_bytes(sample[: 256 * 1024])
    best = matches.best()
    if best is None or best.encoding is None:
        return "cp1252"
    enc = normalise_encoding(best.encoding)
    # On short samples charset-normalizer hesitates between Latin code pages (and picks odd DOS/Mac ones):
    # prefer cp1252, the usual one on the web, when it is about as plausible, or when the pick is exotic.
    near = [m for m in matches if m.chaos <= best.chaos + 0.02]
    if enc not in COMMON_ENCODINGS or (is_single_byte(enc) and any("cp1252" in m.could_be_from_charset for m in near)):
        enc = "cp1252"
    if enc == "ascii":
        return "utf-8"
    # Mostly-UTF-8 samples with a few Latin-1 bytes are still UTF-8 files with bad lines.
    if _mostly_utf8(sample):
        return "utf-8"
    return enc


def _mostly_utf8(sample: bytes) -> bool:
    lines = [ln for ln in sample.split(b"\n")[:-1] if any(b > 0x7F for b in ln)]
    if not lines:
        return False
    ok = 0
    for ln in lines:
        try:
            ln.decode("utf-8")
            ok += 1
        except UnicodeDecodeError:
            pass
    return ok * 2 >= len(lines)


def is_single_byte(encoding: str) -> bool:
    """True for legacy one-byte-per-character encodings (where a valid UTF-8 line is almost surely UTF-8)."""
    enc = normalise_encoding(encoding)
    return enc.startswith(_SINGLE_BYTE_PREFIXES)


class LineDecoder:
    """Decodes physical lines (bytes) in ``encoding``, falling back per line as the module docstring says.

    After each :meth:`decode`, ``last_fallback`` tells whether that line was decoded differently from the
    file's encoding (and ``fallback_lines`` counts such lines).
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = normalise_encoding(encoding)
        self._single_byte = is_single_byte(self.encoding)
        self._utf8 = self.encoding in ("utf-8", "utf-8-sig")
        self.fallback_lines = 0
        self.last_fallback = False
        self._first = True

    def decode(self, raw: bytes) -> str:
        """Text of one physical line."""
        self.last_fallback = False
        enc = self.encoding
        if self._first:
            self._first = False
            if raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            if enc == "utf-8-sig":
                enc = self.encoding = "utf-8"
        if raw.isascii():
            return raw.decode("ascii")
        if self._single_byte:
            try:
                text = raw.decode("utf-8")
                self.last_fallback = True
                self.fallback_lines += 1
                return text
            except UnicodeDecodeError:
                pass
            try:
                return raw.decode(enc)
            except UnicodeDecodeError:
                self.last_fallback = True
                self.fallback_lines += 1
                return raw.decode(enc, errors=FALLBACK_ERRORS)
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            self.last_fallback = True
            self.fallback_lines += 1
            if not self._utf8:
                try:
                    return raw.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return raw.decode(enc, errors=FALLBACK_ERRORS)


#: C0 control bytes that text never holds (tab, line feed, form feed and carriage return are text).
_CONTROL_BYTES = frozenset(range(32)) - {9, 10, 12, 13}


def decode_value(raw: bytes, encoding: str) -> tuple[str, bool] | None:
    """Text of one binary value (a Parquet ``binary`` cell) by the rules for text lines.

    A BOM wins; then UTF-8; otherwise the bytes are decoded like a line of a file in ``encoding`` (the
    encoding detected on the column's values), with the cp1252 fallback. Returns the text and whether it
    is not UTF-8 (reported like a fallback-decoded line), or None when the bytes are not text at all: not
    UTF-8 and holding control bytes, which no legacy text encoding produces (an image, a hash, packed data).
    """
    bom = bom_encoding(raw)
    if bom is not None:
        try:
            return raw.decode(bom), bom not in ("utf-8-sig",)
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    if not _CONTROL_BYTES.isdisjoint(raw):
        return None
    return LineDecoder(encoding).decode(raw), True
