"""Character spans <-> BIO token labels, via a fast tokenizer's offset mapping."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from skutag.errors import ConfigError

Span = tuple[str, int, int]
OUTSIDE = "O"


def label_names(attributes: Sequence[str]) -> list[str]:
    """``O`` then ``B-attr``, ``I-attr`` for each attribute (sorted)."""
    out = [OUTSIDE]
    for a in sorted(attributes):
        out.extend((f"B-{a}", f"I-{a}"))
    return out


ScoredSpan = tuple[str, int, int, float]


def check_span_data(
    texts: Sequence[str],
    spans: Sequence[Sequence[Span]],
    groups: Sequence[str] | None,
    schema: dict[str, list[str]] | None,
) -> tuple[list[str], dict[str, list[str]]]:
    """What every span tagger's ``fit`` checks and derives: the attributes (from the spans and the schema) and the
    schema {group: attributes} (given, else the attributes seen in each group's spans; empty without groups)."""
    if len(texts) != len(spans):
        raise ConfigError(f"{len(texts)} texts but {len(spans)} span lists")
    if not texts:
        raise ConfigError("no training texts")
    if groups is not None and len(groups) != len(texts):
        raise ConfigError(f"{len(texts)} texts but {len(groups)} groups")
    if not any(len(row) for row in spans):
        raise ConfigError("no labelled spans to learn from")
    attributes = sorted({a for row in spans for a, _, _ in row} | {a for v in (schema or {}).values() for a in v})
    if schema is None and groups is not None:
        schema = {}
        for g, row in zip(groups, spans, strict=True):
            schema[str(g)] = sorted(set(schema.get(str(g), [])) | {a for a, _, _ in row})
    return attributes, {str(k): sorted(v) for k, v in (schema or {}).items()}


def best_per_attribute(
    spans: Sequence[ScoredSpan], allowed: set[str] | None = None
) -> dict[str, tuple[int, int, float]]:
    """The best-scoring span ``(start, end, score)`` of each attribute (only ``allowed`` ones when given)."""
    best: dict[str, tuple[int, int, float]] = {}
    for attr, s, e, score in spans:
        if allowed is not None and attr not in allowed:
            continue
        if attr not in best or score > best[attr][2]:
            best[attr] = (s, e, float(score))
    return best


def best_values(
    texts: Sequence[str],
    found: Sequence[Sequence[ScoredSpan]],
    schema: dict[str, list[str]],
    groups: Sequence[str] | None,
) -> list[dict[str, str]]:
    """Per text, the best value of each attribute (restricted to the row's group's attributes when it has any)."""
    out = []
    for i, (text, spans) in enumerate(zip(texts, found, strict=True)):
        allowed = set(schema.get(str(groups[i]), [])) if groups is not None else set()
        best = best_per_attribute(spans, allowed or None)
        out.append({a: str(text)[s:e] for a, (s, e, _) in best.items()})
    return out


def find_spans(text: str, value: str) -> list[tuple[int, int]]:
    """Every case-insensitive occurrence of ``value`` in ``text`` that does not cut a word in two."""
    if not value.strip():
        return []
    out = []
    low, needle = text.lower(), value.lower().strip()
    for m in re.finditer(re.escape(needle), low):
        s, e = m.start(), m.end()
        left_ok = s == 0 or not (low[s - 1].isalnum() and needle[0].isalnum())
        right_ok = e == len(low) or not (low[e].isalnum() and needle[-1].isalnum())
        if left_ok and right_ok:
            out.append((s, e))
    return out


def token_labels(offsets: Sequence[tuple[int, int]], spans: Sequence[Span], index: dict[str, int]) -> np.ndarray:
    """Label id per token: special tokens (empty offsets) get -100, tokens inside a span B-/I-, others O.

    Earlier spans win where spans overlap; a span whose attribute is not in ``index`` is ignored."""
    labels = np.full(len(offsets), index[OUTSIDE], dtype=np.int64)
    taken = np.zeros(len(offsets), dtype=bool)
    for i, (s, e) in enumerate(offsets):
        if s == e:
            labels[i] = -100
            taken[i] = True
    for attr, start, end in spans:
        b, inside = index.get(f"B-{attr}"), index.get(f"I-{attr}")
        if b is None or inside is None:
            continue
        toks = [i for i, (s, e) in enumerate(offsets) if s < e and s < end and e > start]
        if not toks or taken[toks].any():
            continue
        labels[toks[0]] = b
        labels[toks[1:]] = inside
        taken[toks] = True
    return labels


def decode(
    probs: np.ndarray, offsets: Sequence[tuple[int, int]], names: Sequence[str]
) -> list[tuple[str, int, int, float]]:
    """Spans ``(attr, start, end, score)`` from per-token label probabilities (tokens x labels).

    A span starts at a B- token (or a stray I-) and continues over I- tokens of the same attribute; its
    score is the mean probability of its tokens' labels."""
    best = probs.argmax(axis=1)
    spans: list[tuple[str, int, int, float]] = []
    attr_cur: str | None = None
    start = end = 0
    scores: list[float] = []

    def close() -> None:
        if attr_cur is not None:
            spans.append((attr_cur, start, end, float(np.mean(scores))))

    for i, (s, e) in enumerate(offsets):
        if s == e:
            continue
        name = names[best[i]]
        p = float(probs[i, best[i]])
        kind, attr = (name[:1], name[2:]) if name != OUTSIDE else ("O", "")
        if attr_cur is not None and kind == "I" and attr == attr_cur:
            end = e
            scores.append(p)
            continue
        close()
        attr_cur = None
        if kind in ("B", "I"):
            attr_cur, start, end, scores = attr, s, e, [p]
    close()
    return spans
