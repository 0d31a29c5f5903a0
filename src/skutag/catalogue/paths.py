"""One rule for label paths, used wherever labels are split into levels or checked (the reader's label
frame, cleaning, training, the taxonomy): how a path string splits, and which level labels are refused.

A path splits on its separator's visible part (``" > "`` splits on ``>`` whatever the spaces around it, so
``"A>B"`` and ``"A > B"`` agree); parts are trimmed and empty parts dropped. A level label must not hold
``>``: predictions join levels with :data:`PATH_SEP` and the review store splits on it, so such a label adds
a level to the path (four parts from a three-level model). Nor may it be a relative path (a ``.`` or ``..``
segment between slashes, as in ``../x``): that is a file-system path pasted into a label column, never a
category name. Plain slashes stay allowed: real category names use them (MWPD's ``Bread/Bakery Products``).

Paths are unwrapped first, as shops write them: a value that is a list of paths (JSON, ``["A >> B >> C"]`` as
in Flipkart's exports, or Python-style ``['A >> B']``) gives its first path, and quotes around a path
(``"A > B"``) are dropped, so no class name starts with ``["`` or ends with ``"]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

#: Separator of the levels in a path string (node ids, predictions, the review store).
PATH_SEP = " > "
#: What a rejected row's reason starts with, in every command.
BAD_LABEL = "bad label"
_DOT_SEGMENT = re.compile(r"(?:^|[/\\])\.{1,2}(?:[/\\]|$)")
#: Quotes a path may be wrapped in (straight and typographic).
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}
#: Where a list written with quotes but not as JSON (``['A', 'B']``) is cut into its items.
_ITEM_CUT = re.compile(r"""(?<=["'\u201d\u2019])\s*,\s*(?=["'\u201c\u2018])""")


def separator_key(sep: str) -> str:
    """The part of ``sep`` a path is split on: ``" > "`` -> ``">"`` (a blank separator is kept as it is)."""
    return sep.strip() or sep


def _unquote(value: str) -> str:
    """``'"A > B"'`` -> ``"A > B"``; quotes inside stay (``"'A' > 'B'"`` is two quoted parts, not one)."""
    value = value.strip()
    while len(value) >= 2 and _QUOTES.get(value[0]) == value[-1] and value[0] not in value[1:-1]:
        value = value[1:-1].strip()
    return value


def _list_items(value: str) -> list[str] | None:
    """The items of a value written as a list of strings, or None when it is not one."""
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if isinstance(parsed, list):
        return [s for s in (_unquote(str(x)) for x in parsed if x is not None) if s]
    inner = value[1:-1].strip()
    if not inner:
        return []
    if inner[0] not in _QUOTES:  # "[Refurbished]" is a name, not a list
        return None
    return [s for s in (_unquote(x) for x in _ITEM_CUT.split(inner)) if s]


def unwrap_path(value: str) -> tuple[str, int]:
    """A path value as shops write it, unwrapped: ``'["A >> B"]'`` -> ``("A >> B", 1)``.

    A list of paths (JSON, or quoted items as Python writes them) gives its first non-empty path; quotes
    around the path are dropped. The count is the number of paths the value held: 1 for a plain value, 0
    for an empty list, more when a list held several paths of which only the first is used.
    """
    s = value.strip()
    if len(s) >= 2 and s[0] == "[" and s[-1] == "]":
        items = _list_items(s)
        if items is not None:
            return (items[0] if items else ""), len(items)
    s = _unquote(s)
    return s, 1 if s else 0


def split_levels(value: str, sep: str = PATH_SEP) -> list[str]:
    """Split an unwrapped path on :func:`separator_key`; parts stripped (with quotes left around a part
    by a broken list), empty ones dropped."""
    return [part for part in (_unquote(p) for p in value.split(separator_key(sep))) if part]


def split_path(value: str, sep: str = PATH_SEP) -> list[str]:
    """``"A > B >C"`` -> ``["A", "B", "C"]``: :func:`unwrap_path` (a list's first path, quotes dropped),
    then split on :func:`separator_key`, parts stripped, empty ones dropped."""
    return split_levels(unwrap_path(value)[0], sep)


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot be one level of a path, or None when it can."""
    key = separator_key(PATH_SEP)
    if key in label:
        return f"{label!r} holds the path separator {key!r} (a level of its own; a column of paths needs label_sep)"
    if _DOT_SEGMENT.search(label):
        return f"{label!r} is a relative path ('.' or '..' segment), not a category name"
    return None


def bad_level(levels: Sequence[object]) -> tuple[int, str] | None:
    """The first unusable label of a row's levels: its 0-based level and the reject reason; None when all
    are usable (missing levels are not this rule's business)."""
    for i, label in enumerate(levels):
        if isinstance(label, str):
            problem = label_problem(label)
            if problem is not None:
                return i, f"{BAD_LABEL}: level {i + 1} label {problem}"
    return None
