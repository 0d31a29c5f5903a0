"""Vectorised shingling: word or character n-grams of many texts as flat 32-bit hashes plus offsets.

Hashes are stable across runs and processes (token strings are hashed with pandas' keyed SipHash).
A text shorter than n tokens/characters yields one shingle made of all it has; an empty text yields none.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from skutag.catalogue.arrow import to_arrow
from skutag.cleaning.text import normalize_whitespace_arrow
from skutag.errors import ConfigError

_SHINGLE = re.compile(r"^(word|char)(\d+)$")
_MUL = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], dtype=np.uint64)


def parse_shingle(shingle: str) -> tuple[str, int]:
    """``"word3"`` -> ``("word", 3)``; ``"char5"`` -> ``("char", 5)``."""
    m = _SHINGLE.match(shingle)
    if m is None or not 1 <= int(m.group(2)) <= 16:
        raise ConfigError(f"unknown shingle {shingle!r}: use word1..word16 or char1..char16")
    return m.group(1), int(m.group(2))


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _ngrams(units: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Combine per-unit uint64 hashes into n-gram hashes per document. Returns (hashes uint32, offsets)."""
    lengths = lengths.astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    ends = starts + lengths
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint32), offsets
    doc = np.repeat(np.arange(len(lengths)), counts)
    pos = starts[doc] + (np.arange(total, dtype=np.int64) - offsets[doc])
    acc = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            idx = pos + j
            inside = idx < ends[doc]
            val = units[np.minimum(idx, max(len(units) - 1, 0))]
            acc = _mix64(acc * _MUL[j % 4] + np.where(inside, val, np.uint64(0)) + np.uint64(j + 1))
    return (acc ^ (acc >> np.uint64(32))).astype(np.uint32), offsets


#: Bytes that separate words: every ASCII byte that is not a letter or digit. Non-ASCII bytes (other
#: scripts, accented letters) count as word characters, so this works on raw UTF-8 without decoding.
_SEPARATOR = np.array([not (chr(b).isascii() and chr(b).isalnum()) if b < 128 else False for b in range(256)])


def _ascii_punct_to_space(arr: pa.Array) -> pa.Array:
    """Replace every ASCII non-alphanumeric byte with a space, straight on the UTF-8 buffer (length kept)."""
    arr = pa.concat_arrays([arr]) if arr.offset else arr
    validity, offsets, data = arr.buffers()
    if data is None or len(arr) == 0:
        return arr
    raw = np.frombuffer(data, dtype=np.uint8)
    cleaned = np.where(_SEPARATOR[raw], np.uint8(32), raw)
    return pa.Array.from_buffers(
        pa.large_string(), len(arr), [validity, offsets, pa.py_buffer(cleaned)], null_count=arr.null_count
    )


def _word_units(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    words = pc.ascii_split_whitespace(_ascii_punct_to_space(arr))
    lengths = pc.list_value_length(words).fill_null(0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(words)
    if len(flat) == 0:
        return np.zeros(0, dtype=np.uint64), np.asarray(lengths)
    enc = pc.dictionary_encode(flat)
    vocab = enc.dictionary.to_numpy(zero_copy_only=False).astype(object)
    vocab_hash = pd.util.hash_array(vocab, categorize=False).astype(np.uint64)
    units = vocab_hash[enc.indices.to_numpy(zero_copy_only=False)]
    return units, np.asarray(lengths)


def _char_units(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    arr = arr.fill_null("")
    lengths = pc.utf8_length(arr).to_numpy(zero_copy_only=False)
    joined = "".join(arr.to_pylist())
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        units = _mix64(cps + np.uint64(0x632BE59BD9B4E019))
    return units, np.asarray(lengths)


def shingle_hashes(texts: Any, shingle: str = "word3", *, normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Shingles of every text (lower-cased; word shingles split on ASCII punctuation and whitespace): a flat
    uint32 array of shingle hashes and ``offsets`` (len = n_texts + 1) so text i owns
    ``hashes[offsets[i]:offsets[i+1]]``. ``normalized`` says the texts are already lower-cased with
    normalised whitespace (see :func:`skutag.dedup.keys.matching_key`)."""
    kind, n = parse_shingle(shingle)
    arr = to_arrow(texts)
    if not normalized:
        arr = normalize_whitespace_arrow(pc.utf8_lower(arr))
    units, lengths = _word_units(arr) if kind == "word" else _char_units(arr)
    return _ngrams(units, lengths, n)
