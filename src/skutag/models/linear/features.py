"""Fast word and character n-gram TF-IDF features, computed with numpy and no pickled objects.

Every n-gram is hashed with a vectorised polynomial hash over Unicode code points (any script works:
Chinese titles get character n-grams) and folded into ``2**BUCKET_BITS`` buckets; the vocabulary is the
array of buckets seen in training (with their idf). State is plain arrays, so it saves to npz/JSON and
loads in a fresh process identically. Transforming is pure numpy (no Python loop per n-gram).

Weighting: raw term counts times smooth idf; per field, the word block and the char block of each row are
scaled to unit length each, then by the field's weight (the title should weigh most; long descriptions
dilute a linear model).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from skutag.errors import NotFittedError

#: n-gram hashes are folded into 2**BUCKET_BITS buckets.
BUCKET_BITS = 22
_P = np.uint64(1_099_511_628_211)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_SEP = "\x01"
_SEP_CP = np.uint64(1)
_SPACE_CP = np.uint64(32)
_PUNCT = (
    string.punctuation
    + "\x01\u00a0\u2018\u2019\u201c\u201d\u2013\u2014\u2022\u00b7"
    + "\u3001\u3002\uff0c\uff1a\uff1b\uff08\uff09\u3010\u3011\ufffd"
)
_PUNCT_TABLE = str.maketrans({c: " " for c in _PUNCT})
_MAX_WORD = 64
_PUNCT_LUT = np.zeros(max(ord(c) for c in _PUNCT) + 2, dtype=bool)  # last entry: every larger code point
_PUNCT_LUT[[ord(c) for c in _PUNCT if c != _SEP]] = True

Parts = list[tuple[np.ndarray, np.ndarray]]
#: (rows, cols, values) of part of a sparse matrix; rows non-decreasing.
Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


def normalise(text: object) -> str:
    """Lower-case, whitespace collapsed, separator removed; non-strings become ''. (For char n-grams.)"""
    if not isinstance(text, str):
        return ""
    return " ".join(text.replace(_SEP, " ").lower().split())


def word_text(normalised: str) -> str:
    """A normalised text with punctuation turned into spaces. (For word n-grams.)"""
    return " ".join(normalised.translate(_PUNCT_TABLE).split())


def _mix(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser, so nearby inputs spread over the hash space."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(33))
        h = h * _MIX1
        h = h ^ (h >> np.uint64(33))
        h = h * _MIX2
        h = h ^ (h >> np.uint64(33))
    return h


def _bucket(h: np.ndarray) -> np.ndarray:
    return (h >> np.uint64(64 - BUCKET_BITS)).astype(np.int64)


def ngram_parts(texts: Sequence[str], word: tuple[int, int] | None, char: tuple[int, int] | None) -> Parts:
    """For each n-gram order, ``(rows, buckets)`` of every occurrence; ``rows`` is non-decreasing.

    ``texts`` must already be normalised (single spaces, no separator character).
    """
    return _cps_ngram_parts(_codepoints(_SEP + _SEP.join(f" {t} " for t in texts) + _SEP), word, char)


def _codepoints(joined: str) -> np.ndarray:
    return np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def _punct_to_space(cps: np.ndarray) -> np.ndarray:
    """Code points with punctuation (as :func:`word_text` sees it, the separator aside) made spaces; word
    tokens are then those of :func:`word_text` (which only also collapses the spaces)."""
    out = cps.copy()
    out[_PUNCT_LUT[np.minimum(cps, np.uint64(len(_PUNCT_LUT) - 1))]] = _SPACE_CP
    return out


def _cps_ngram_parts(cps: np.ndarray, word: tuple[int, int] | None, char: tuple[int, int] | None) -> Parts:
    """:func:`ngram_parts` of the code points of texts joined as ``SEP + SEP.join(" t ") + SEP``."""
    is_sep = cps == _SEP_CP
    csep = np.concatenate([[0], np.cumsum(is_sep)])
    cblank = np.concatenate([[0], np.cumsum(is_sep | (cps == _SPACE_CP))])
    total = len(cps)
    parts: Parts = []
    with np.errstate(over="ignore"):
        if char:
            for n in range(char[0], char[1] + 1):
                m = total - n + 1
                if m <= 0:
                    continue
                h = cps[:m] + np.uint64((n * int(_P)) % (1 << 64))  # == n * P + c0, as if h started at n
                for j in range(1, n):
                    h = h * _P + cps[j : j + m]
                # within one text, and no space strictly inside the window (n-grams of space-padded words)
                ok = csep[n : n + m] == csep[:m]
                if n > 2:
                    ok &= cblank[n - 1 : n - 1 + m] == cblank[1 : 1 + m]
                idx = np.flatnonzero(ok)
                salt = np.uint64((0x9E3779B97F4A7C15 * n) % (1 << 64))
                parts.append((csep[idx] - 1, _bucket(_mix(h[idx] ^ salt))))
        if word:
            blank = is_sep | (cps == _SPACE_CP)
            prev_blank = np.concatenate([[True], blank[:-1]])
            starts = np.flatnonzero(~blank & prev_blank)
            if len(starts):
                is_start = np.zeros(total, dtype=bool)
                is_start[starts] = True
                word_id = np.cumsum(is_start) - 1
                inside = np.flatnonzero(~blank)
                pos = np.minimum(inside - starts[word_id[inside]], _MAX_WORD - 1)
                powers = np.concatenate(
                    [np.ones(1, np.uint64), np.cumprod(np.full(_MAX_WORD - 1, _P, dtype=np.uint64))]
                )
                contrib = (cps[inside] + np.uint64(1)) * powers[pos]
                seg = np.searchsorted(inside, starts)
                tok = _mix(np.add.reduceat(contrib, seg))
                tok_row = csep[starts] - 1
                for n in range(word[0], word[1] + 1):
                    m = len(tok) - n + 1
                    if m <= 0:
                        continue
                    h = tok[:m].copy()
                    ok = np.ones(m, dtype=bool)
                    for j in range(1, n):
                        h = _mix(h * _P + tok[j : j + m])
                        ok &= tok_row[j : j + m] == tok_row[:m]
                    salt = np.uint64((0x632BE59BD9B4E019 * n) % (1 << 64))
                    parts.append((tok_row[:m][ok], _bucket(_mix(h[ok] ^ salt))))
    return parts


_NUL = "\x00"
#: Big inputs are fitted and transformed this many rows at a time.
CHUNK_ROWS = 200_000


def _collapse(joined: str) -> str:
    """Collapse whitespace in NUL-joined texts as ``" ".join(t.split())`` does per text."""
    return " ".join(joined.split()).replace(" " + _NUL, _NUL).replace(_NUL + " ", _NUL)


def _padded(joined: str) -> str:
    """NUL-joined normalised texts in the form :func:`ngram_parts` hashes (space-padded, SEP-separated)."""
    return _SEP + " " + joined.replace(_NUL, " " + _SEP + " ") + " " + _SEP


def normalised_joined(texts: Sequence[object], max_chars: int = 0) -> str | None:
    """``normalise`` (then cut to ``max_chars``) of every text, NUL-joined, computed on one big string (no
    Python call per text). None when a text holds a NUL (use the per-text way)."""
    strs = [t if isinstance(t, str) else "" for t in texts]
    big = _NUL.join(strs)
    if big.count(_NUL) != max(len(strs) - 1, 0):
        return None
    norm = _collapse(big.replace(_SEP, " ").lower())
    if max_chars:
        norm = _NUL.join(t[:max_chars] for t in norm.split(_NUL))
    return norm


@dataclass(frozen=True)
class NgramConfig:
    """Which n-grams one text field contributes and how much the field weighs."""

    word: tuple[int, int] | None = (1, 2)
    char: tuple[int, int] | None = (2, 5)
    min_df: int = 1
    max_chars: int = 0  # 0 = no limit; long descriptions can be cut to their start
    weight: float = 1.0
    max_features: int = 0  # 0 = no limit; else the buckets of highest document frequency are kept

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NgramConfig:
        word = d.get("word")
        char = d.get("char")
        return cls(
            word=(int(word[0]), int(word[1])) if word else None,
            char=(int(char[0]), int(char[1])) if char else None,
            min_df=int(d.get("min_df", 1)),
            max_chars=int(d.get("max_chars", 0)),
            weight=float(d.get("weight", 1.0)),
            max_features=int(d.get("max_features", 0)),
        )


class FieldVectorizer:
    """TF-IDF over hashed word + char n-grams of one text field (see the module docstring)."""

    def __init__(self, config: NgramConfig | None = None) -> None:
        self.config = config or NgramConfig()
        self._table: np.ndarray | None = None

    def _groups(self, texts: Sequence[object]) -> list[Parts]:
        """Word parts and char parts, as separate groups (each group is normalised on its own)."""
        cfg = self.config
        if len(texts) == 0:
            return []
        fast = normalised_joined(texts, cfg.max_chars)
        if fast is not None:
            cps = _codepoints(_padded(fast))
            char_cps, word_cps = cps, _punct_to_space(cps) if cfg.word else cps
        else:
            norm = [normalise(t) for t in texts]
            if cfg.max_chars:
                norm = [t[: cfg.max_chars] for t in norm]
            char_cps = _codepoints(_SEP + _SEP.join(f" {t} " for t in norm) + _SEP)
            word_cps = _codepoints(_SEP + _SEP.join(f" {word_text(t)} " for t in norm) + _SEP)
        groups = []
        if cfg.word:
            groups.append(_cps_ngram_parts(word_cps, cfg.word, None))
        if cfg.char:
            groups.append(_cps_ngram_parts(char_cps, None, cfg.char))
        return groups

    def fit(self, texts: Sequence[object]) -> FieldVectorizer:
        """Learn the buckets seen in ``texts`` (document frequency >= min_df) and their idf (``CHUNK_ROWS``
        rows at a time, so memory does not grow with the catalogue's n-grams)."""
        counts = np.zeros(1 << BUCKET_BITS, dtype=np.int64)
        for start in range(0, len(texts), CHUNK_ROWS):
            counts += _document_frequency(self._groups(texts[start : start + CHUNK_ROWS]))
        return self._set_vocabulary(counts, len(texts))

    def _set_vocabulary(self, counts: np.ndarray, n: int) -> FieldVectorizer:
        buckets = np.flatnonzero(counts).astype(np.int64)
        df = counts[buckets]
        keep = df >= self.config.min_df
        cap = self.config.max_features
        if cap and int(keep.sum()) > cap:
            # the cap most frequent buckets (ties: lower bucket first, so the choice is deterministic)
            order = np.lexsort((buckets, -df))
            keep = np.zeros(len(buckets), dtype=bool)
            keep[order[:cap]] = True
        self.vocab_ = buckets[keep].astype(np.int64)
        self.idf_ = (np.log((1.0 + n) / (1.0 + df[keep])) + 1.0).astype(np.float32)
        self._table = None
        return self

    def transform_triples(self, texts: Sequence[object]) -> list[Triple]:
        """The TF-IDF matrix as ``(rows, cols, values)`` triples whose sum is the full matrix; ``rows`` is
        non-decreasing within each triple, duplicates are not summed."""
        if not hasattr(self, "vocab_"):
            raise NotFittedError("FieldVectorizer is not fitted")
        return self._triples_of_groups(self._groups(texts), len(texts))

    def _triples_of_groups(self, groups: list[Parts], n: int) -> list[Triple]:
        table = self._lookup_table()
        out: list[Triple] = []
        for group in groups:
            found: Parts = []
            sq = np.zeros(n, dtype=np.float64)
            for rows, buckets in group:
                cols = table[buckets]
                hit = cols >= 0
                rows, cols = rows[hit], cols[hit]
                found.append((rows, cols))
                sq += np.bincount(rows, weights=self.idf_[cols].astype(np.float64) ** 2, minlength=n)
            norms = np.sqrt(sq)
            norms[norms == 0] = 1.0
            scale = (self.config.weight / norms).astype(np.float32)
            for rows, cols in found:
                out.append((rows, cols, self.idf_[cols] * scale[rows]))
        return out

    def transform_parts(self, texts: Sequence[object]) -> list[sp.csr_matrix]:
        """The TF-IDF matrix as a list of CSR matrices whose sum is the full matrix (no sorting needed)."""
        n, v = len(texts), self.n_features if hasattr(self, "vocab_") else 0
        return [_triple_csr(t, n, v) for t in self.transform_triples(texts)]

    def transform(self, texts: Sequence[object]) -> sp.csr_matrix:
        """The TF-IDF matrix (duplicates summed, indices sorted)."""
        return _sum_parts(self.transform_parts(texts), len(texts), self.n_features)

    def fit_transform(self, texts: Sequence[object]) -> sp.csr_matrix:
        """``fit(texts).transform(texts)``, computing the n-grams once."""
        n = len(texts)
        parts = [_triple_csr(t, n, self.n_features) for t in self._fit_triples(texts)]
        return _sum_parts(parts, n, self.n_features)

    def _fit_triples(self, texts: Sequence[object]) -> list[Triple]:
        """Fit on ``texts`` and return their :meth:`transform_triples`, from one computation of the n-grams."""
        n, groups = len(texts), self._groups(texts)
        return self._set_vocabulary(_document_frequency(groups), n)._triples_of_groups(groups, n)

    def _lookup_table(self) -> np.ndarray:
        if self._table is None:
            table = np.full(1 << BUCKET_BITS, -1, dtype=np.int32)
            table[self.vocab_] = np.arange(len(self.vocab_), dtype=np.int32)
            self._table = table
        return self._table

    @property
    def n_features(self) -> int:
        return len(self.vocab_)


def _document_frequency(groups: list[Parts]) -> np.ndarray:
    """Rows holding each bucket (an array over all ``2**BUCKET_BITS`` buckets): distinct (row, bucket) keys
    counted per bucket, by a sort (numpy's hash-based unique is ten times slower on tens of millions)."""
    parts = [p for group in groups for p in group]
    if not parts:
        return np.zeros(1 << BUCKET_BITS, dtype=np.int64)
    keys = np.concatenate([(r << BUCKET_BITS) | b for r, b in parts])
    keys.sort()
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return np.bincount(keys[first] & ((1 << BUCKET_BITS) - 1), minlength=1 << BUCKET_BITS)


def _triple_csr(triple: Triple, n: int, v: int) -> sp.csr_matrix:
    rows, cols, data = triple
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    return sp.csr_matrix((data, cols.astype(np.int32), indptr), shape=(n, v))


def _sum_parts(parts: list[sp.csr_matrix], n: int, v: int) -> sp.csr_matrix:
    if not parts:
        return sp.csr_matrix((n, v), dtype=np.float32)
    coo = [p.tocoo() for p in parts]
    data = np.concatenate([c.data for c in coo])
    rows = np.concatenate([c.row for c in coo])
    cols = np.concatenate([c.col for c in coo])
    x = sp.csr_matrix((data, (rows, cols)), shape=(n, v), dtype=np.float32)
    x.sum_duplicates()
    return x


class MultiFieldVectorizer:
    """One :class:`FieldVectorizer` per text column; blocks sit side by side in one feature space."""

    def __init__(self, fields: dict[str, NgramConfig]) -> None:
        self.fields = dict(fields)
        self.vectorizers = {name: FieldVectorizer(cfg) for name, cfg in self.fields.items()}

    def fit(self, columns: Mapping[str, Sequence[object]]) -> MultiFieldVectorizer:
        for name in self.fields:
            self.vectorizers[name].fit(columns[name])
        return self

    def transform_triples(self, columns: Mapping[str, Sequence[object]]) -> list[Triple]:
        """Triples (see :meth:`FieldVectorizer.transform_triples`) with columns in the joint feature space."""
        out: list[Triple] = []
        offset = 0
        for name in self.fields:
            vec = self.vectorizers[name]
            for rows, cols, data in vec.transform_triples(columns[name]):
                out.append((rows, cols + offset, data))
            offset += vec.n_features
        return out

    def transform_parts(self, columns: Mapping[str, Sequence[object]]) -> list[sp.csr_matrix]:
        """Parts (see :meth:`FieldVectorizer.transform_parts`) padded into the joint feature space."""
        n = len(next(iter(columns.values()))) if columns else 0
        return [_triple_csr(t, n, self.n_features) for t in self.transform_triples(columns)]

    def transform(self, columns: Mapping[str, Sequence[object]]) -> sp.csr_matrix:
        n = len(next(iter(columns.values()))) if columns else 0
        return _sum_parts(self.transform_parts(columns), n, self.n_features)

    def fit_transform(self, columns: Mapping[str, Sequence[object]]) -> sp.csr_matrix:
        """``fit(columns).transform(columns)``: up to ``CHUNK_ROWS`` rows computing each field's n-grams once,
        above it in chunks of rows (n-grams computed twice, memory bounded by the chunk)."""
        n = len(next(iter(columns.values()))) if columns else 0
        if n > CHUNK_ROWS:
            self.fit(columns)
            chunks = [
                self.transform({c: v[s : s + CHUNK_ROWS] for c, v in columns.items()}) for s in range(0, n, CHUNK_ROWS)
            ]
            return sp.vstack(chunks, format="csr", dtype=np.float32)
        triples: list[Triple] = []
        offset = 0
        for name in self.fields:
            vec = self.vectorizers[name]
            triples.extend((rows, cols + offset, data) for rows, cols, data in vec._fit_triples(columns[name]))
            offset += vec.n_features
        return _sum_parts([_triple_csr(t, n, self.n_features) for t in triples], n, self.n_features)

    @property
    def n_features(self) -> int:
        return sum(v.n_features for v in self.vectorizers.values())

    def state_arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i, name in enumerate(self.fields):
            out[f"vocab_{i}"] = self.vectorizers[name].vocab_
            out[f"idf_{i}"] = self.vectorizers[name].idf_
        return out

    def config_list(self) -> list[dict[str, Any]]:
        return [{"column": name, **cfg.to_dict()} for name, cfg in self.fields.items()]

    @classmethod
    def from_state(cls, config: list[dict[str, Any]], arrays: dict[str, np.ndarray]) -> MultiFieldVectorizer:
        fields = {str(c["column"]): NgramConfig.from_dict(c) for c in config}
        obj = cls(fields)
        for i, name in enumerate(fields):
            vec = obj.vectorizers[name]
            vocab = np.asarray(arrays[f"vocab_{i}"], dtype=np.int64)
            idf = np.asarray(arrays[f"idf_{i}"], dtype=np.float32)
            if vocab.shape != idf.shape or (len(vocab) and (vocab.min() < 0 or vocab.max() >= 1 << BUCKET_BITS)):
                raise ValueError(f"inconsistent vocabulary arrays for field {name!r}")
            vec.vocab_, vec.idf_ = vocab, idf
        return obj
