"""One rule for label paths, used wherever labels are split into levels or checked (the reader's label
frame, cleaning, training, the taxonomy): how a path string splits, and which level labels are refused.

A path splits on its separator's visible part (``" > "`` splits on ``>`` whatever the spaces around it, so
``"A>B"`` and ``"A > B"`` agree); parts are trimmed and empty parts dropped. A level label must not hold
``>``: predictions join levels with :data:`PATH_SEP` and the review store splits on it, so such a label adds
a level to the path (four parts from a three-level model). Nor may it be a relative path (a ``.`` or ``..``
segment between slashes, as in ``../x``): that is a file-system path pasted into a label column, never a
category name. Plain slashes stay allowed: real category names use them (MWPD's ``Bread/Bakery Products``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Separator of the levels in a path string (node ids, predictions, the review store).
PATH_SEP = " > "
#: What a rejected row's reason starts with, in every command.
BAD_LABEL = "bad label"
_DOT_SEGMENT = re.compile(r"(?:^|[/\\])\.{1,2}(?:[/\\]|$)")


def separator_key(sep: str) -> str:
    """The part of ``sep`` a path is split on: ``" > "`` -> ``">"`` (a blank separator is kept as it is)."""
    return sep.strip() or sep


def split_path(value: str, sep: str = PATH_SEP) -> list[str]:
    """``"A > B >C"`` -> ``["A", "B", "C"]``: split on :func:`separator_key`, parts stripped, empty ones dropped."""
    return [part for part in (p.strip() for p in value.split(separator_key(sep))) if part]


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
