"""Why a product got its attribute values and free tags: for each, where the value is (its span) and the context
words that decided it, by occlusion (each word blanked alone, the part's tagger run again on all those texts in one
batch).

- **attribute** (:class:`~skutag.models.parts.attributes.AttributePart`, any span tagger): the words nearest the
  value's span, outside it (at most ``words``); a word's weight is the span's score lost without it. The span's
  score in a text is the tagger's score of the same attribute's span found there times its overlap with the
  value's span (intersection over union: 1 for the same span, 0 when the value is no longer found), so a word
  that moves a boundary counts in part.
- **free tag** (:class:`~skutag.models.parts.tagsets.TagSetPart`): the first ``words`` words of its fields; a
  word's weight is the tag's probability lost without it. A free tag has no span.

Words are ``\\w+`` runs as everywhere in :mod:`skutag.explain`, except that Chinese and Japanese characters count
one by one (their text has no spaces; a run would be a whole phrase). Blanking replaces a word by spaces, so every
offset stays as it was. A result's ``context`` keeps the ``top`` words of largest weight (either sign, at least
:data:`MIN_WEIGHT`), sorted by weight (for the value first); spans point into the product field named, as the
tag entries do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from skutag.explain.spans import Span
from skutag.extraction.entries import TagEntry
from skutag.extraction.examples import field_offsets, join_fields
from skutag.models.parts.tagsets import tag_text

if TYPE_CHECKING:
    from skutag.models.bundle import ModelBundle
    from skutag.models.parts.attributes import AttributePart
    from skutag.models.parts.tagsets import TagSetPart

#: context words tried per attribute value (the nearest to its span) and per row for free tags (the first ones)
MAX_CONTEXT_WORDS = 24
MAX_TAG_WORDS = 64
#: context words reported per value, and the least weight a reported word has (a smaller change decided nothing)
TOP_CONTEXT = 5
MIN_WEIGHT = 1e-4
SPAN_TARGET = "the span's score lost when that word alone is blanked (score x overlap with the span still found)"
TAG_TARGET = "probability of the tag lost when that word alone is blanked"

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
UNIT = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+", re.UNICODE)


@dataclass(frozen=True)
class _Word:
    field: str
    column: int
    start: int  # in its field
    end: int
    text: str
    at: int  # start in the joined text
    until: int  # end in the joined text


@dataclass
class TagExplanation:
    """One attribute value or free tag: its value, the span it was read from (weight: the tagger's score of it;
    None for a free tag), the ``context`` words that decided it (signed weights, heaviest first) and what those
    weights measure (``target``); ``words``: how many words were tried."""

    value: str
    kind: str
    confidence: float | None
    score: float
    span: Span | None
    context: list[Span]
    target: str
    words: int
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["score"] = round(self.score, 6)
        out["span"] = None if self.span is None else {**asdict(self.span), "weight": round(self.span.weight, 6)}
        out["context"] = [{**asdict(s), "weight": round(s.weight, 6)} for s in self.context]
        return out


def words_of(values: Sequence[str], names: Sequence[str]) -> list[_Word]:
    """The words of each field (:data:`UNIT`), with their offsets in the field and in the joined text."""
    out = []
    for ci, (value, offset) in enumerate(zip(values, field_offsets(values), strict=True)):
        for m in UNIT.finditer(value or ""):
            out.append(_Word(names[ci], ci, m.start(), m.end(), m.group(), offset + m.start(), offset + m.end()))
    return out


def _blank(text: str, a: int, b: int) -> str:
    return text[:a] + " " * (b - a) + text[b:]


def span_score(found: Sequence[tuple[str, int, int, float]], attribute: str, start: int, end: int) -> float:
    """The score of ``attribute``'s span ``[start, end)`` among a text's scored spans: the best score of that
    attribute's spans times their overlap with it (intersection over union)."""
    best = 0.0
    for attr, s, e, score in found:
        inter = min(end, e) - max(start, s)
        if attr != attribute or inter <= 0:
            continue
        best = max(best, float(score) * inter / (max(end, e) - min(start, s)))
    return best


def _top(words: Sequence[_Word], weights: np.ndarray, top: int | None) -> list[Span]:
    order = sorted(range(len(words)), key=lambda k: (-abs(float(weights[k])), k))
    keep = [k for k in order if abs(float(weights[k])) >= MIN_WEIGHT][: top if top is not None else len(order)]
    spans = [Span(words[k].field, words[k].start, words[k].end, words[k].text, float(weights[k])) for k in keep]
    return sorted(spans, key=lambda s: -s.weight)


def explain_attributes(
    part: AttributePart,
    rows: pd.DataFrame | Sequence[dict[str, Any]],
    groups: Sequence[str | None] | None = None,
    *,
    words: int = MAX_CONTEXT_WORDS,
    top: int | None = TOP_CONTEXT,
) -> list[dict[str, TagExplanation]]:
    """Per row, ``{attribute: explanation}`` for the values :meth:`AttributePart.predict` gives (``groups`` as
    there: each row's group where the rows lack the group column)."""
    rows = rows if isinstance(rows, pd.DataFrame) else list(rows)
    frame = part.fields.frame(rows)
    all_values = frame[part.text_columns].astype(str).values.tolist()
    groups = part.groups_of(rows) or (list(groups) if groups is not None else None)
    entries = part.predict(rows, groups=groups)
    names = [part.fields.field(c) for c in part.text_columns]
    out = []
    for i, (values, found) in enumerate(zip(all_values, entries, strict=True)):
        group = None if groups is None else [groups[i]]
        out.append(_row_attributes(part, values, names, found, group, words, top))
    return out


def _row_attributes(
    part: AttributePart,
    values: list[str],
    names: list[str],
    found: dict[str, TagEntry],
    group: list[str | None] | None,
    budget: int,
    top: int | None,
) -> dict[str, TagExplanation]:
    if not found:
        return {}
    t0 = time.perf_counter()
    text = join_fields(values)
    offsets = field_offsets(values)
    units = words_of(values, names)
    targets: list[tuple[str, TagEntry, int, int, list[int]]] = []
    for attr, entry in found.items():
        at = offsets[names.index(str(entry["field"]))]
        s, e = at + int(entry["start"]), at + int(entry["end"])

        def distance(k: int, s: int = s, e: int = e) -> int:
            return s - units[k].until if units[k].until <= s else units[k].at - e

        outside = [k for k, u in enumerate(units) if u.until <= s or u.at >= e]
        targets.append((attr, entry, s, e, sorted(outside, key=lambda k: (distance(k), k))[:budget]))
    tried = sorted({k for *_, near in targets for k in near})
    texts = [text] + [_blank(text, units[k].at, units[k].until) for k in tried]
    scored = part.raw_spans(texts, None if group is None else group * len(texts))
    row = {k: j + 1 for j, k in enumerate(tried)}
    out: dict[str, TagExplanation] = {}
    for attr, entry, s, e, near in targets:
        base = span_score(scored[0], attr, s, e)
        drop = np.array([base - span_score(scored[row[k]], attr, s, e) for k in near])
        span = Span(str(entry["field"]), int(entry["start"]), int(entry["end"]), str(entry.get("text", "")), base)
        out[attr] = TagExplanation(
            str(entry["value"]), "attribute", entry.get("confidence"), base, span,
            _top([units[k] for k in near], drop, top), SPAN_TARGET, len(near),
        )  # fmt: skip
    seconds = (time.perf_counter() - t0) / len(out)
    for ex in out.values():
        ex.seconds = seconds
    return out


def explain_tagset(
    part: TagSetPart,
    rows: pd.DataFrame | Sequence[dict[str, Any]],
    *,
    words: int = MAX_TAG_WORDS,
    top: int | None = TOP_CONTEXT,
) -> list[dict[str, TagExplanation]]:
    """Per row, ``{tag: explanation}`` for the tags :meth:`TagSetPart.predict` gives."""
    rows = rows if isinstance(rows, pd.DataFrame) else list(rows)
    frame = part.fields.frame(rows)
    all_values = frame[part.text_columns].astype(str).values.tolist()
    entries = part.predict(rows)
    names = [part.fields.field(c) for c in part.text_columns]
    out: list[dict[str, TagExplanation]] = []
    for values, found in zip(all_values, entries, strict=True):
        if not found:
            out.append({})
            continue
        t0 = time.perf_counter()
        units = words_of(values, names)[:words]
        texts = [tag_text(values)]
        for u in units:
            blanked = list(values)
            blanked[u.column] = _blank(values[u.column], u.start, u.end)
            texts.append(tag_text(blanked))
        probs = part.tagger.predict_proba(texts)
        mine: dict[str, TagExplanation] = {}
        for tag, entry in found.items():
            p = probs[tag].to_numpy(dtype=float)
            mine[tag] = TagExplanation(
                str(entry["value"]), "tag", entry.get("confidence"), float(p[0]), None,
                _top(units, p[0] - p[1:], top), TAG_TARGET, len(units),
            )  # fmt: skip
        seconds = (time.perf_counter() - t0) / len(mine)
        for ex in mine.values():
            ex.seconds = seconds
        out.append(mine)
    return out


def explain_tags(
    bundle: ModelBundle,
    rows: pd.DataFrame | Sequence[dict[str, Any]],
    paths: Sequence[Sequence[str]] | None = None,
    *,
    words: int | None = None,
    top: int | None = TOP_CONTEXT,
) -> list[dict[str, TagExplanation]]:
    """Per row, the explanations of the tags :meth:`ModelBundle.predict_tags` gives, under the same names
    (attributes, then free tags; ``tag:NAME`` for a free tag named like an attribute). ``paths``: the category
    model's best path per row, as there. ``words``: the word budget (default: :data:`MAX_CONTEXT_WORDS` per
    value, :data:`MAX_TAG_WORDS` per row of free tags)."""
    rows = rows if isinstance(rows, pd.DataFrame) else list(rows)
    out: list[dict[str, TagExplanation]] = [{} for _ in range(len(rows))]
    if not len(rows):
        return out
    if bundle.attributes is not None:
        groups = bundle._groups_from_paths(paths)
        budget = MAX_CONTEXT_WORDS if words is None else words
        found = explain_attributes(bundle.attributes, rows, groups, words=budget, top=top)
        for mine, got in zip(out, found, strict=True):
            mine.update(got)
    if bundle.tags is not None:
        budget = MAX_TAG_WORDS if words is None else words
        for mine, got in zip(out, explain_tagset(bundle.tags, rows, words=budget, top=top), strict=True):
            for name, ex in got.items():
                mine[f"tag:{name}" if name in mine else name] = ex
    return out


def tags_dict(found: dict[str, TagExplanation]) -> dict[str, dict[str, Any]]:
    """``{name: explanation as JSON}`` for one row."""
    return {name: ex.to_dict() for name, ex in found.items()}
