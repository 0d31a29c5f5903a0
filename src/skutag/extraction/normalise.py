"""Attribute values in one canonical form, for output and for scoring.

Two values that a catalogue team would call the same compare equal after :func:`value_key`: case, spacing
and how a number meets its unit do not matter ("150 mm" = "150mm" = "150 MM", "2.0GHz" = "2.0 GHz").
:func:`normalise_value` is the display form (case kept, spacing made canonical); the raw span is kept
beside it wherever a value comes from the text.
"""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
#: a number directly followed by a unit-like word ("150mm", "2.0GHz", "8 TB"): one space between them
_NUMBER_UNIT = re.compile(r"(\d+(?:[.,]\d+)?)\s*([^\W\d_]{1,6})\b", re.UNICODE)
#: spacing around "x" in dimensions ("10 x 20" = "10x20") and around "/" and "-" between numbers
_NUMBER_JOIN = re.compile(r"(\d)\s*([x×/*-])\s*(\d)", re.IGNORECASE)
_EDGE = " .,;:!?\"'()[]{}|"


def normalise_value(value: str) -> str:
    """The canonical display form of a value: Unicode NFKC, whitespace collapsed, edge punctuation removed,
    one space between a number and its unit, none inside a dimension ("10 x 20" -> "10x20")."""
    text = unicodedata.normalize("NFKC", str(value))
    text = _SPACE.sub(" ", text).strip(_EDGE)
    text = _NUMBER_JOIN.sub(lambda m: f"{m.group(1)}{m.group(2).lower().replace('×', 'x')}{m.group(3)}", text)
    return _NUMBER_UNIT.sub(_unit_spaced, text)


def _unit_spaced(m: re.Match[str]) -> str:
    """One space between a number and its unit, unless the number is part of a code ("E5335", "B21"): only a
    number at a word start, or after the "x" of a dimension ("2x4MB"), is a quantity."""
    s, before = m.start(), m.string[: m.start()]
    code = (
        s > 0 and (before[-1].isalnum() or before[-1] in "._") and not (before[-1] in "xX" and before[-2:-1].isdigit())
    )
    return m.group(0) if code else f"{m.group(1)} {m.group(2)}"


def value_key(value: str) -> str:
    """What two values are compared by: the canonical form, case-folded."""
    return normalise_value(value).casefold()


def exact_key(value: str) -> str:
    """The exact-match comparison of WDC-PAVE's scoring: lower-cased, whitespace collapsed, edge punctuation cut."""
    return " ".join(str(value).lower().split()).strip(" .,;:")
