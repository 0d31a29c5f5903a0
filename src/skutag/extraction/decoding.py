"""Constrained BIO decoding: a Viterbi path over per-token label log-probabilities.

A token-wise argmax can start a value with ``I-x``, switch attribute in the middle of a word, or pick an
attribute the row's category never asks for (the span is then dropped and the value lost). Here the labels
outside the row's schema are masked *before* the decision (the probabilities are renormalised over what is
left, so scores stay probabilities), ``I-x`` may only follow ``B-x`` or ``I-x``, and a word-piece that
continues a word keeps the label of the word it belongs to (gold values never cut a word in two).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from skutag.extraction.bio import OUTSIDE

DecodedSpan = tuple[str, int, int, float]


def label_mask(names: Sequence[str], attributes: Collection[str] | None) -> np.ndarray:
    """Which labels a row may use: ``O`` always, ``B-/I-`` of ``attributes`` (all when None or empty)."""
    if not attributes:
        return np.ones(len(names), dtype=bool)
    allowed = set(attributes)
    return np.array([n == OUTSIDE or n[2:] in allowed for n in names], dtype=bool)


def _transitions(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(between words, inside a word) allowed-transition matrices, prev x next, as 0 / -inf."""
    n = len(names)
    kind = [nm[:1] if nm != OUTSIDE else "O" for nm in names]
    attr = [nm[2:] for nm in names]
    word = np.zeros((n, n))
    inner = np.full((n, n), -np.inf)
    for j in range(n):
        if kind[j] == "I":  # I-x only after B-x / I-x
            word[:, j] = -np.inf
            for i in range(n):
                if kind[i] in ("B", "I") and attr[i] == attr[j]:
                    word[i, j] = 0.0
                    inner[i, j] = 0.0
    o = names.index(OUTSIDE)
    inner[o, o] = 0.0  # a word outside a value stays outside
    return word, inner


_CACHE: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}


def continues_word(text: str | None, prev_end: int, start: int) -> bool:
    """Whether a token starting at ``start`` is the rest of the word the previous token (ending at ``prev_end``)
    began: no gap and letters/digits on both sides (the rule :func:`~skutag.extraction.bio.find_spans` uses)."""
    if text is None or start != prev_end or start == 0 or start >= len(text):
        return False
    return text[start - 1].isalnum() and text[start].isalnum()


def viterbi_decode(
    probs: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    names: Sequence[str],
    allowed: np.ndarray | None = None,
    text: str | None = None,
) -> list[DecodedSpan]:
    """Spans ``(attr, start, end, score)`` of the best valid label path; the score is the mean (renormalised)
    probability of the span's token labels. Tokens with empty offsets (special tokens, a prefix segment) are
    skipped. ``allowed`` masks labels (see :func:`label_mask`); ``text`` enables the word-piece rule."""
    key = tuple(names)
    if key not in _CACHE:
        _CACHE[key] = _transitions(names)
    word, inner = _CACHE[key]
    toks = [i for i, (s, e) in enumerate(offsets) if s < e]
    if not toks:
        return []
    p = probs[toks].astype(np.float64)
    if allowed is not None:  # decode over the allowed labels only: a category asks a few of all attributes
        keep = np.flatnonzero(allowed)
        p, word, inner = p[:, keep], word[np.ix_(keep, keep)], inner[np.ix_(keep, keep)]
        names = [names[int(j)] for j in keep]
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    logp = np.log(np.maximum(p, 1e-30))
    n_tok, n_lab = logp.shape
    back = np.zeros((n_tok, n_lab), dtype=np.int64)
    is_i = np.array([nm.startswith("I-") for nm in names])
    score = logp[0] + np.where(is_i, -np.inf, 0.0)
    for t in range(1, n_tok):
        prev_end, start = offsets[toks[t - 1]][1], offsets[toks[t]][0]
        trans = inner if continues_word(text, prev_end, start) else word
        cand = score[:, None] + trans
        back[t] = cand.argmax(axis=0)
        score = cand[back[t], np.arange(n_lab)] + logp[t]
    path = [int(score.argmax())]
    for t in range(n_tok - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    path.reverse()
    spans: list[DecodedSpan] = []
    cur: str | None = None
    start = end = 0
    scores: list[float] = []
    for t, lab in enumerate(path):
        s, e = offsets[toks[t]]
        name = names[lab]
        if name.startswith("I-") and cur == name[2:]:
            end = e
            scores.append(float(p[t, lab]))
            continue
        if cur is not None:
            spans.append((cur, start, end, float(np.mean(scores))))
        cur = name[2:] if name.startswith("B-") else None
        start, end, scores = s, e, [float(p[t, lab])]
    if cur is not None:
        spans.append((cur, start, end, float(np.mean(scores))))
    return spans
