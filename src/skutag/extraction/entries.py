"""The shape of one predicted or reviewed tag, shared by prediction files, the API, the store and the review page.

A product's ``tags`` is a JSON object ``{name: entry}``. ``name`` is an attribute ("Brand", "Colour") or a
free tag of a multi-label tag set ("vegan"). An entry::

    {"value": "150 mm",          # canonical value (extraction.normalise.normalise_value); a free tag: its name
     "text": "150mm",            # the raw span as written in the product text (absent when not in the text)
     "field": "name",            # the text field the span is in, with character offsets [start, end) in it
     "start": 12, "end": 17,
     "confidence": 0.93,         # probability that the value is right (calibrated on held-out rows)
     "decision": "auto",         # "auto" (confidence reaches the tag's threshold) or "review"
     "kind": "attribute",        # "attribute" (a value found in the text) or "tag" (a free tag)
     "source": "model"}          # "model", or "review" for a value a person set

Only ``value`` is required. A reviewer's value that does not occur in the text has no span.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from skutag.extraction.normalise import normalise_value

KIND_ATTRIBUTE = "attribute"
KIND_TAG = "tag"
SOURCE_MODEL = "model"
SOURCE_REVIEW = "review"


class TagEntry(TypedDict):
    value: str
    text: NotRequired[str]
    field: NotRequired[str]
    start: NotRequired[int]
    end: NotRequired[int]
    confidence: NotRequired[float]
    decision: NotRequired[Literal["auto", "review"]]
    kind: NotRequired[Literal["attribute", "tag"]]
    source: NotRequired[Literal["model", "review"]]


def entry_value(entry: Any) -> str:
    """The value of an entry, or of a bare string/number (a hand-written ``tags`` column may hold those)."""
    if isinstance(entry, dict):
        return str(entry.get("value", "") or "")
    return "" if entry is None else str(entry)


def span_entry(
    text: str, field: str, start: int, end: int, confidence: float, *, source: str = SOURCE_MODEL
) -> TagEntry:
    """An attribute entry for the span ``text[start:end]`` of ``field``."""
    raw = text[start:end]
    return {
        "value": normalise_value(raw),
        "text": raw,
        "field": field,
        "start": int(start),
        "end": int(end),
        "confidence": round(float(confidence), 6),
        "kind": "attribute",
        "source": source,  # type: ignore[typeddict-item]
    }
