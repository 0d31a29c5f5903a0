"""Words of a product's text fields as character spans, and the texts with some of them removed.

One token rule for every method (``\\w+``, the words a reader sees), so that explanations, the faithfulness
measures and LIME all speak of the same units, and a span always points into the text as given.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Token:
    """A word of one text column: the column's position and name, and its ``[start, end)`` in that text."""

    column: int
    field: str
    start: int
    end: int
    text: str


@dataclass
class Span:
    """A highlighted word: where it is (field, character offsets into that field's text) and its signed weight
    for the explained path (positive: evidence for it)."""

    field: str
    start: int
    end: int
    text: str
    weight: float


@dataclass
class Explanation:
    """Why one product got ``path``: a weight per word (``spans``, in text order), how it was computed, and the
    evidence outside the text (neighbour votes, ensemble members).

    ``target`` says what the weights add up to (with ``bias``): for ``linear`` the centred path score, for
    ``ig``/``gradient`` the path's log-score minus that of the baseline (within ``delta`` for IG), for
    ``occlusion`` nothing (each weight is the probability lost without that word alone), for ``erasure`` nothing
    either (the top weight is the probability lost without all the words greedy erasure removed)."""

    path: list[str]
    probability: float
    method: str
    spans: list[Span]
    target: str = ""
    bias: float | None = None
    delta: float | None = None
    id: str | None = None
    neighbours: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    seconds: float | None = None

    def top(self, k: int = 3) -> list[Span]:
        """The ``k`` words with the largest positive weight (the evidence for the path)."""
        return sorted((s for s in self.spans if s.weight > 0), key=lambda s: -s.weight)[:k]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["spans"] = [{**asdict(s), "weight": round(s.weight, 6)} for s in self.spans]
        out["probability"] = round(self.probability, 6)
        return out


def tokens(texts: Sequence[str], columns: Sequence[str]) -> list[Token]:
    """Every ``\\w+`` word of each column's text, column by column."""
    out = []
    for ci, (text, col) in enumerate(zip(texts, columns, strict=True)):
        for m in TOKEN.finditer(text or ""):
            out.append(Token(ci, str(col), m.start(), m.end(), m.group()))
    return out


def remove(texts: Sequence[str], toks: Sequence[Token], drop: Collection[int]) -> list[str]:
    """``texts`` with the words at indices ``drop`` of ``toks`` blanked (replaced by spaces: offsets and the
    other words stay as they were)."""
    chars = [list(t or "") for t in texts]
    for i in drop:
        t = toks[i]
        chars[t.column][t.start : t.end] = " " * (t.end - t.start)
    return ["".join(c) for c in chars]


def keep_only(texts: Sequence[str], toks: Sequence[Token], keep: Collection[int]) -> list[str]:
    """``texts`` with every word but those at ``keep`` blanked (punctuation between words stays)."""
    keep = set(keep)
    return remove(texts, toks, [i for i in range(len(toks)) if i not in keep])


def char_weights_to_spans(texts: Sequence[str], toks: Sequence[Token], weights: Sequence[np.ndarray]) -> list[Span]:
    """Per-character weights (one array per column) summed into word spans. Weight on a character outside
    every word (punctuation inside an n-gram) goes to the nearest word of the same whitespace-free run, if any."""
    by_col: dict[int, list[int]] = {}
    for i, t in enumerate(toks):
        by_col.setdefault(t.column, []).append(i)
    out = [0.0] * len(toks)
    for ci, w in enumerate(weights):
        text = texts[ci] or ""
        ids = by_col.get(ci, [])
        owner = np.full(len(text), -1, dtype=np.int64)
        for i in ids:
            owner[toks[i].start : toks[i].end] = i
        for pos in np.flatnonzero((owner < 0) & (np.asarray(w) != 0)):
            owner_id = _nearest_word(text, owner, int(pos))
            if owner_id >= 0:
                out[owner_id] += float(w[pos])
        for i in ids:
            out[i] += float(np.sum(w[toks[i].start : toks[i].end]))
    return [Span(t.field, t.start, t.end, t.text, out[i]) for i, t in enumerate(toks)]


def _nearest_word(text: str, owner: np.ndarray, pos: int) -> int:
    left, right = pos - 1, pos + 1
    while left >= 0 or right < len(text):
        if left >= 0:
            if text[left].isspace():
                left = -1
            elif owner[left] >= 0:
                return int(owner[left])
            else:
                left -= 1
        if right < len(text):
            if text[right].isspace():
                right = len(text)
            elif owner[right] >= 0:
                return int(owner[right])
            else:
                right += 1
    return -1
