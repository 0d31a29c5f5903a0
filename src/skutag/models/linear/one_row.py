"""One product's TF-IDF features and scores, compiled (numba): the linear model's one-title fast path.

:class:`~skutag.models.linear.features.FieldVectorizer` computes n-grams of many texts at once with whole-array numpy
operations; for one title the fixed cost of those few hundred small numpy calls is most of the time (batch-1
``predict`` spent 90% of a call in them, pandas and path decoding). Here the same n-grams of one text are hashed in
one compiled loop, looked up, weighted and summed into the class scores, with the same arithmetic in the same order:
the features, hence the raw scores, are bit-identical to the batch path's (:func:`field_features` emits them in the
order of :meth:`~skutag.models.linear.features.FieldVectorizer.transform_triples`, and :func:`add_row_product`
sums them as :func:`~skutag.models.linear.sparse_kernels.add_sparse_product` does for a few rows).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from skutag.models.linear import features as F

#: per n (index): the char n-gram hash's start (n * P) and the char and word n-gram salts, as the batch path uses
_MAX_N = 16
_CHAR_START = np.array([(n * int(F._P)) % (1 << 64) for n in range(_MAX_N)], dtype=np.uint64)
_CHAR_SALT = np.array([(0x9E3779B97F4A7C15 * n) % (1 << 64) for n in range(_MAX_N)], dtype=np.uint64)
_WORD_SALT = np.array([(0x632BE59BD9B4E019 * n) % (1 << 64) for n in range(_MAX_N)], dtype=np.uint64)
#: P, the two mixing multipliers
_CONSTS = np.array([int(F._P), int(F._MIX1), int(F._MIX2)], dtype=np.uint64)
_POWERS = np.concatenate([np.ones(1, np.uint64), np.cumprod(np.full(F._MAX_WORD - 1, F._P, dtype=np.uint64))])
_SHIFT = 64 - F.BUCKET_BITS


def codepoints(text: str, max_chars: int) -> np.ndarray:
    """``text`` normalised (:func:`~skutag.models.linear.features.normalise`), cut to ``max_chars`` (0: whole) and
    padded as the batch path hashes it (``SEP + " " + text + " " + SEP``), as uint32 code points."""
    norm = " ".join(text.replace(F._SEP, " ").lower().split())
    if max_chars:
        norm = norm[:max_chars]
    return np.frombuffer(f"{F._SEP} {norm} {F._SEP}".encode("utf-32-le"), dtype=np.uint32)


@njit(nogil=True, cache=True)
def _mix(h: np.uint64, m1: np.uint64, m2: np.uint64) -> np.uint64:
    s = np.uint64(33)
    h = h ^ (h >> s)
    h = h * m1
    h = h ^ (h >> s)
    h = h * m2
    return h ^ (h >> s)


@njit(nogil=True, cache=True)
def _features(
    cps: np.ndarray,
    lut: np.ndarray,
    table: np.ndarray,
    idf: np.ndarray,
    weight: float,
    word_lo: int,
    word_hi: int,
    char_lo: int,
    char_hi: int,
    consts: np.ndarray,
    powers: np.ndarray,
    char_start: np.ndarray,
    char_salt: np.ndarray,
    word_salt: np.ndarray,
    shift: int,
) -> tuple[np.ndarray, np.ndarray]:
    p, m1, m2 = consts[0], consts[1], consts[2]
    sh = np.uint64(shift)
    total = cps.shape[0]
    sep = np.uint64(1)
    space = np.uint64(32)
    n_lut = lut.shape[0]
    cap = 0
    if word_lo > 0:
        cap += total * (word_hi - word_lo + 1)
    if char_lo > 0:
        cap += total * (char_hi - char_lo + 1)
    cols = np.empty(cap, np.int64)
    n_cols = 0
    n_word = 0
    sq_word = 0.0
    sq_char = 0.0
    if word_lo > 0:
        # word tokens of the text with punctuation made spaces (the separator aside)
        toks = np.empty(total, np.uint64)
        n_tok = 0
        acc = np.uint64(0)
        pos = 0
        for i in range(total):
            c = np.uint64(cps[i])
            if c != sep and lut[min(cps[i], n_lut - 1)]:
                c = space
            if c == sep or c == space:  # noqa: SIM109 - plain comparisons compile to the simplest code
                if pos > 0:
                    toks[n_tok] = _mix(acc, m1, m2)
                    n_tok += 1
                acc = np.uint64(0)
                pos = 0
            else:
                acc += (c + np.uint64(1)) * powers[min(pos, powers.shape[0] - 1)]
                pos += 1
        for n in range(word_lo, word_hi + 1):
            part = 0.0
            for i in range(n_tok - n + 1):
                h = toks[i]
                for j in range(1, n):
                    h = _mix(h * p + toks[i + j], m1, m2)
                col = table[_mix(h ^ word_salt[n], m1, m2) >> sh]
                if col >= 0:
                    cols[n_cols] = col
                    n_cols += 1
                    x = np.float64(idf[col])
                    part += x * x
            sq_word += part
        n_word = n_cols
    if char_lo > 0:
        for n in range(char_lo, char_hi + 1):
            part = 0.0
            for i in range(total - n + 1):
                # within the text, and no blank strictly inside the window (n-grams of space-padded words)
                ok = True
                for j in range(n):
                    cj = cps[i + j]
                    if cj == 1 or (cj == 32 and 0 < j < n - 1):
                        ok = False
                        break
                if not ok:
                    continue
                h = np.uint64(cps[i]) + char_start[n]
                for j in range(1, n):
                    h = h * p + np.uint64(cps[i + j])
                col = table[_mix(h ^ char_salt[n], m1, m2) >> sh]
                if col >= 0:
                    cols[n_cols] = col
                    n_cols += 1
                    x = np.float64(idf[col])
                    part += x * x
            sq_char += part
    data = np.empty(n_cols, np.float32)
    norm_word = np.sqrt(sq_word)
    norm_char = np.sqrt(sq_char)
    scale_word = np.float32(weight / (norm_word if norm_word != 0 else 1.0))
    scale_char = np.float32(weight / (norm_char if norm_char != 0 else 1.0))
    for q in range(n_cols):
        data[q] = idf[cols[q]] * (scale_word if q < n_word else scale_char)
    return cols[:n_cols], data


def field_features(vec: F.FieldVectorizer, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Columns (in the field's own feature space) and values of one text's TF-IDF row, in the order of the batch
    path's triples (word n-grams by order, then char n-grams by order; duplicates not summed)."""
    cfg = vec.config
    word = cfg.word or (0, -1)
    char = cfg.char or (0, -1)
    if max(word[1], char[1]) >= _MAX_N:
        raise ValueError(f"n-grams longer than {_MAX_N - 1} are not supported")
    return _features(
        codepoints(text, cfg.max_chars),
        F._PUNCT_LUT,
        vec._lookup_table(),
        vec.idf_,
        float(cfg.weight),
        word[0],
        word[1],
        char[0],
        char[1],
        _CONSTS,
        _POWERS,
        _CHAR_START,
        _CHAR_SALT,
        _WORD_SALT,
        _SHIFT,
    )


@njit(nogil=True, cache=True)
def _add_row(out: np.ndarray, cols: np.ndarray, data: np.ndarray, coef: np.ndarray) -> None:
    # four coefficient rows streamed at once (the product is bound by reading them), each output element still
    # summed one feature after the other, in input order: the batch kernel's result, bit for bit
    n = out.shape[0]
    q = 0
    while q + 4 <= cols.shape[0]:
        r0 = coef[cols[q]]
        r1 = coef[cols[q + 1]]
        r2 = coef[cols[q + 2]]
        r3 = coef[cols[q + 3]]
        v0, v1, v2, v3 = data[q], data[q + 1], data[q + 2], data[q + 3]
        for j in range(n):
            o = out[j]
            o += v0 * r0[j]
            o += v1 * r1[j]
            o += v2 * r2[j]
            o += v3 * r3[j]
            out[j] = o
        q += 4
    while q < cols.shape[0]:
        r0 = coef[cols[q]]
        v0 = data[q]
        for j in range(n):
            out[j] += v0 * r0[j]
        q += 1


def add_row_product(out: np.ndarray, cols: np.ndarray, data: np.ndarray, coef: np.ndarray) -> None:
    """``out += data @ coef[cols]`` for one row (float32, in place), summed in the order
    :func:`~skutag.models.linear.sparse_kernels.add_sparse_product` sums it: input order, or by feature (stable) when
    the row has so many features that the batch kernel sorts them (a very long text)."""
    if len(cols) and (cols.min() < 0 or cols.max() >= coef.shape[0]):
        raise IndexError("sparse product index out of range")
    if len(cols) * 16 >= coef.shape[0]:
        order = np.argsort(cols, kind="stable")
        cols, data = cols[order], data[order]
    _add_row(out, cols, data, coef)
