"""HTML to plain text with selectolax: tags removed, entities decoded, block elements become line breaks.

Only values that look like HTML (a tag, a comment or an entity) are parsed; everything else passes through.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from selectolax.lexbor import LexborHTMLParser

from skutag.catalogue.arrow import to_arrow, to_bool, to_series

#: A complete tag (``<b>``, ``</p>``, ``<br/>``, ``<img src=x>``), a comment/doctype, or an entity.
HTML_HINT = (
    r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>"
    r"|<!"
    r"|&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
)

_HINT_RE = re.compile(HTML_HINT)
_DROP = ["script", "style", "noscript", "template", "head", "iframe", "svg", "object"]
_BLOCKS = (
    "p,div,li,ul,ol,dl,dt,dd,tr,table,thead,tbody,h1,h2,h3,h4,h5,h6,section,article,header,footer,"
    "blockquote,pre,hr,address,figure,figcaption,nav,aside,main,form,fieldset,details,summary"
)
_MAX_PASSES = 2


def looks_like_html(values: Any) -> np.ndarray:
    """Boolean per value: does it hold a tag, comment or entity worth parsing? Missing -> False."""
    arr = to_arrow(values)
    return to_bool(pc.match_substring_regex(arr, HTML_HINT))


def html_to_text(text: str) -> str:
    """Strip markup from one string with selectolax; ``<br>`` and block elements become line breaks,
    ``<td>``/``<th>`` a space, script/style dropped, entities decoded. Doubly escaped markup
    (``&lt;p&gt;``) is unwrapped once more.
    """
    out = text
    for _ in range(_MAX_PASSES):
        out = _strip_once(out)
        if _HINT_RE.search(out) is None:
            break
    return out


def _strip_once(text: str) -> str:
    tree = LexborHTMLParser(text)
    tree.strip_tags(_DROP)
    for node in tree.css("br"):
        node.insert_before("\n")
    for node in tree.css(_BLOCKS):
        node.insert_before("\n")
        node.insert_after("\n")
    for node in tree.css("td,th"):
        node.insert_after(" ")
    root = tree.body if tree.body is not None else tree.root
    if root is None:
        return ""
    return root.text(deep=True, separator="", strip=False) or ""


def strip_html_arrow(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Arrow kernel behind :func:`strip_html`."""
    mask = to_bool(pc.match_substring_regex(arr, HTML_HINT))
    if not mask.any():
        return arr, mask
    values = arr.to_pylist()
    for i in np.flatnonzero(mask):
        values[i] = html_to_text(values[i])
    return pa.array(values, type=pa.large_string()), mask


def strip_html(values: Any) -> tuple[pd.Series, np.ndarray]:
    """HTML to text for every value that looks like HTML. Returns the new values and a mask of the
    values that were parsed (``_html_fixed``). Whitespace is not normalised here."""
    index = values.index if isinstance(values, pd.Series) else None
    name = values.name if isinstance(values, pd.Series) else None
    out, mask = strip_html_arrow(to_arrow(values))
    return to_series(out, index, name), mask
