"""Attribute training/evaluation examples in one shape, whatever file they came from.

An example is a product's text fields, its group (the category that decides which attributes are asked), the
gold values per attribute asked (an empty list: asked, and absent — WDC-PAVE's ``n/a``), and character spans in
the joined text. The extractor sees the fields joined by a newline (title first); spans and predictions are
mapped back to (field, start, end) so that output, API and review page point into the product as stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from skutag.extraction.bio import Span, find_spans

FIELD_JOIN = "\n"


@dataclass
class AttributeExample:
    """One product: text per field, group, gold values per attribute asked, spans (joined-text offsets)."""

    fields: dict[str, str]
    group: str | None = None
    gold: dict[str, list[str]] = field(default_factory=dict)
    #: spans given by the file (CoNLL tags, reviewed entries); None: found by matching the gold values
    given_spans: list[Span] | None = None
    #: the row's place in its file, for messages
    source: str = ""
    row: int | None = None

    @property
    def text(self) -> str:
        return join_fields(list(self.fields.values()))

    def spans(self) -> list[Span]:
        """The given spans, else every occurrence of each gold value (longest values first: they win overlaps)."""
        if self.given_spans is not None:
            return list(self.given_spans)
        text = self.text
        pairs = [(a, v) for a, vals in self.gold.items() for v in vals]
        out: list[Span] = []
        for attr, value in sorted(pairs, key=lambda av: -len(av[1])):
            out.extend((attr, s, e) for s, e in find_spans(text, value))
        return out

    def unmatched(self) -> list[tuple[str, str]]:
        """Gold (attribute, value) pairs that occur nowhere in the text (weak labelling cannot place them)."""
        if self.given_spans is not None:
            return []
        text = self.text
        return [(a, v) for a, vals in self.gold.items() for v in vals if not find_spans(text, v)]


def join_fields(values: Sequence[str]) -> str:
    return FIELD_JOIN.join(values)


def field_offsets(values: Sequence[str]) -> list[int]:
    """Where each field starts in :func:`join_fields` of ``values``."""
    out, pos = [], 0
    for v in values:
        out.append(pos)
        pos += len(v) + len(FIELD_JOIN)
    return out


def locate(names: Sequence[str], values: Sequence[str], start: int, end: int) -> tuple[str, int, int] | None:
    """The field and in-field offsets of the joined-text span [start, end); None when it crosses two fields."""
    for name, value, offset in zip(names, values, field_offsets(values), strict=True):
        if offset <= start and end <= offset + len(value):
            return name, start - offset, end - offset
    return None


@dataclass
class AttributeData:
    """Examples read from files, with what the reading found: the text fields, the attributes, the group column,
    and how much of the gold could not be placed in the text."""

    examples: list[AttributeExample]
    text_columns: list[str]
    attributes: list[str]
    group_column: str | None
    format: str
    rows_rejected: int = 0
    #: attribute -> (values placed in the text, values that occur nowhere in it)
    matching: dict[str, tuple[int, int]] = field(default_factory=dict)

    def unmatched_share(self) -> float:
        placed = sum(p for p, _ in self.matching.values())
        missed = sum(m for _, m in self.matching.values())
        return missed / (placed + missed) if placed + missed else 0.0

    def texts(self) -> list[str]:
        return [ex.text for ex in self.examples]

    def groups(self) -> list[str] | None:
        if self.group_column is None:
            return None
        return [ex.group or "" for ex in self.examples]

    def gold(self) -> list[dict[str, list[str]]]:
        return [ex.gold for ex in self.examples]

    def spans(self) -> list[list[Span]]:
        return [ex.spans() for ex in self.examples]

    def schema(self) -> dict[str, list[str]] | None:
        """{group: attributes asked in it} (asked = present in the gold, n/a included)."""
        if self.group_column is None:
            return None
        out: dict[str, set[str]] = {}
        for ex in self.examples:
            out.setdefault(ex.group or "", set()).update(ex.gold)
        return {g: sorted(a) for g, a in out.items()}


def matching_counts(examples: Sequence[AttributeExample]) -> dict[str, tuple[int, int]]:
    """Per attribute: gold values found in the text, and values found nowhere."""
    out: dict[str, list[int]] = {}
    for ex in examples:
        missed = set(ex.unmatched())
        for attr, values in ex.gold.items():
            c = out.setdefault(attr, [0, 0])
            for v in values:
                c[1 if (attr, v) in missed else 0] += 1
    return {a: (c[0], c[1]) for a, c in sorted(out.items())}
