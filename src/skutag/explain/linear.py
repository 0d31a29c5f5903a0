"""Exact explanations of the linear model: each n-gram occurrence adds (TF-IDF value x coefficient) to the score,
and its share goes to the characters it covers.

The explained score is the path's *centred* score, sum over levels of ``T_path * T_level * (s[c] - mean(s))`` of
the raw SVM scores ``s``: linear in the features, so the word weights plus :attr:`Explanation.bias` (the intercepts'
share) add up to it exactly. It orders paths like the path probability (the log-softmax normalisers that are left
out do not depend on the path), which is a softmax over path scores.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from skutag.explain.spans import Span, Token, char_weights_to_spans
from skutag.models.linear.features import (
    _SEP,
    _SPACE_CP,
    FieldVectorizer,
    _codepoints,
    _cps_ngram_parts,
    _punct_to_space,
    normalise,
)

TARGET = "centred path score (sum over levels of T_path * T_level * (s[class] - mean s)); spans + bias = it"


def normalised_with_origin(text: str) -> tuple[str, np.ndarray]:
    """The vectoriser's :func:`normalise` of ``text`` and, per character of it, the index of the character of
    ``text`` it came from (lower-casing may expand one character to two)."""
    chars: list[str] = []
    origin: list[int] = []
    pending_space = False
    for i, ch in enumerate(text):
        if ch == _SEP or ch.isspace():
            pending_space = bool(chars)
            continue
        if pending_space:
            chars.append(" ")
            origin.append(i - 1)
            pending_space = False
        for lc in ch.lower():
            chars.append(lc)
            origin.append(i)
    norm = "".join(chars)
    if norm != normalise(text):  # context-dependent lower-casing (a final sigma): offsets by proportion
        norm = normalise(text)
        origin = [min(len(text) - 1, round(j * len(text) / max(1, len(norm)))) for j in range(len(norm))]
    return norm, np.asarray(origin, dtype=np.int64)


def _occurrences(vec: FieldVectorizer, norm: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per group (word n-grams, char n-grams; each normalised on its own), the n-gram occurrences of one
    normalised text as ``(buckets, first, last, group id)``: ``first``/``last`` are positions in ``norm``."""
    cfg = vec.config
    padded = _SEP + " " + norm + " " + _SEP
    cps = _codepoints(padded)
    out = []
    if cfg.word:
        wcps = _punct_to_space(cps)
        parts = _cps_ngram_parts(wcps, cfg.word, None)
        blank = (wcps == np.uint64(1)) | (wcps == _SPACE_CP)
        prev = np.concatenate([[True], blank[:-1]])
        nxt = np.concatenate([blank[1:], [True]])
        starts = np.flatnonzero(~blank & prev)
        ends = np.flatnonzero(~blank & nxt)  # inclusive
        b, f, la = [], [], []
        for (_rows, buckets), n in zip(parts, range(cfg.word[0], cfg.word[1] + 1), strict=False):
            m = len(buckets)
            b.append(buckets)
            f.append(starts[:m])
            la.append(ends[n - 1 : n - 1 + m])
        if b:
            out.append((np.concatenate(b), np.concatenate(f) - 2, np.concatenate(la) - 2, np.zeros(0)))
    if cfg.char:
        parts = _cps_ngram_parts(cps, None, cfg.char)
        is_sep = cps == np.uint64(1)
        csep = np.concatenate([[0], np.cumsum(is_sep)])
        cblank = np.concatenate([[0], np.cumsum(is_sep | (cps == _SPACE_CP))])
        b, f, la = [], [], []
        orders = [n for n in range(cfg.char[0], cfg.char[1] + 1) if len(cps) - n + 1 > 0]
        for (_rows, buckets), n in zip(parts, orders, strict=True):
            m = len(cps) - n + 1
            ok = csep[n : n + m] == csep[:m]
            if n > 2:
                ok &= cblank[n - 1 : n - 1 + m] == cblank[1 : 1 + m]
            idx = np.flatnonzero(ok)
            if len(idx) != len(buckets):  # the vectoriser changed: better no explanation than a wrong one
                raise RuntimeError("char n-gram positions do not match the vectoriser's")
            b.append(buckets)
            f.append(idx)
            la.append(idx + n - 1)
        if b:
            out.append((np.concatenate(b), np.concatenate(f) - 2, np.concatenate(la) - 2, np.zeros(0)))
    return out


def path_weights(model: Any, path: Sequence[str]) -> tuple[np.ndarray, float]:
    """The feature weights of ``path``'s centred score (one per feature) and its constant (intercepts)."""
    cache: dict[tuple[str, ...], tuple[np.ndarray, float]] = model.__dict__.setdefault("_explain_weights", {})
    key = tuple(path)
    if key in cache:
        return cache[key]
    if len(cache) > 64:
        cache.clear()
    offsets = np.cumsum([0, *[len(c) for c in model.classes_]])
    w = np.zeros(model.coef_.shape[0], dtype=np.float64)
    b = 0.0
    means = _level_means(model)
    padded = list(path) + [""] * (len(model.classes_) - len(path))
    for lv, name in enumerate(padded):
        classes = model.classes_[lv]
        if name not in classes:
            continue
        c = offsets[lv] + classes.index(name)
        t = float(model.level_temperature_[lv]) * float(model.path_temperature_)
        w += t * (model.coef_[:, c].astype(np.float64) - means[0][lv])
        b += t * (float(model.intercept_[c]) - means[1][lv])
    cache[key] = (w, b)
    return w, b


def _level_means(model: Any) -> tuple[list[np.ndarray], list[float]]:
    found = model.__dict__.get("_explain_means")
    if found is not None and found[0] is model.coef_:
        return found[1]
    offsets = np.cumsum([0, *[len(c) for c in model.classes_]])
    coef = [model.coef_[:, a:b].mean(axis=1, dtype=np.float64) for a, b in itertools.pairwise(offsets)]
    inter = [float(model.intercept_[a:b].mean()) for a, b in itertools.pairwise(offsets)]
    model.__dict__["_explain_means"] = (model.coef_, (coef, inter))
    return coef, inter


def linear_spans(
    model: Any, texts: Sequence[str], toks: Sequence[Token], path: Sequence[str]
) -> tuple[list[Span], float, float]:
    """Word spans of one row (the model's text columns) for ``path``, the bias, and the part of the score on no
    word (n-grams of punctuation alone): spans + bias + rest = the centred path score."""
    w, bias = path_weights(model, path)
    weights: list[np.ndarray] = []
    rest = 0.0
    offset = 0
    vectorizers = model.vectorizer_.vectorizers
    for ci, col in enumerate(model.text_columns_):
        vec = vectorizers[col]
        text = texts[ci] or ""
        chars = np.zeros(len(text))
        norm, origin = normalised_with_origin(text)
        if vec.config.max_chars:
            norm, origin = norm[: vec.config.max_chars], origin[: vec.config.max_chars]
        table = vec._lookup_table()
        letters = np.array([c != " " for c in norm], dtype=np.float64)
        nonspace = np.concatenate([[0], np.cumsum(letters)]).astype(np.int64)
        if norm:
            for buckets, first, last, _ in _occurrences(vec, norm):
                cols = table[buckets]
                hit = cols >= 0
                if not hit.any():
                    continue
                cols, first, last = cols[hit], first[hit], last[hit]
                idf = vec.idf_[cols].astype(np.float64)
                scale = vec.config.weight / np.sqrt(np.sum(idf**2))
                contrib = idf * scale * w[offset + cols]
                a = np.clip(first, 0, len(norm) - 1)
                z = np.clip(last, 0, len(norm) - 1)
                count = nonspace[z + 1] - nonspace[a]
                empty = count == 0
                rest += float(contrib[empty].sum())
                share = np.where(empty, 0.0, contrib / np.maximum(count, 1))
                diff = np.zeros(len(norm) + 1)
                np.add.at(diff, a, share)
                np.add.at(diff, z + 1, -share)
                np.add.at(chars, origin, np.cumsum(diff)[:-1] * letters)
        offset += vec.n_features
        weights.append(chars)
    spans = char_weights_to_spans(texts, toks, weights)
    total = sum(float(c.sum()) for c in weights) + rest
    return spans, bias, total - sum(s.weight for s in spans)


def centred_score(model: Any, texts: Sequence[str], path: Sequence[str]) -> float:
    """The centred path score computed the model's own way (raw scores), for checking :func:`linear_spans`."""
    import pandas as pd

    frame = pd.DataFrame([list(texts)], columns=model.text_columns_, dtype=object)
    scores = model._chunk_scores(frame)[0].astype(np.float64)
    offsets = np.cumsum([0, *[len(c) for c in model.classes_]])
    total = 0.0
    padded = list(path) + [""] * (len(model.classes_) - len(path))
    for lv, name in enumerate(padded):
        classes = model.classes_[lv]
        if name not in classes:
            continue
        s = scores[offsets[lv] : offsets[lv + 1]]
        t = float(model.level_temperature_[lv]) * float(model.path_temperature_)
        total += t * (s[classes.index(name)] - s.mean())
    return total
