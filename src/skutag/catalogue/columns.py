"""Map a catalogue's columns to roles (text, labels, id, split) and pull labels and text out of a frame."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from skutag.catalogue.paths import PATH_SEP, split_path
from skutag.catalogue.schema import RESERVED_COLUMNS, ColumnSpec
from skutag.errors import ConfigError, MissingColumnError

#: Title-like column names, most specific first (compared after lower-casing and folding spaces/dashes to _).
TITLE_NAMES: tuple[str, ...] = (
    "title",
    "name",
    "product_name",
    "product_title",
    "productname",
    "producttitle",
    "item_name",
    "item_title",
    "itemname",
    "input_title",
    "offer_title",
    "product",
    "item",
)
#: Description-like column names.
DESCRIPTION_NAMES: tuple[str, ...] = (
    "description",
    "desc",
    "body",
    "body_html",
    "product_description",
    "item_description",
    "long_description",
    "short_description",
    "input_description",
    "details",
    "text",
)

#: Product-id-like column names, most specific first (compared like the names above): ``ID``, ``SKU``,
#: ``Product ID``, ``uniq_id`` ...
ID_NAMES: tuple[str, ...] = (
    "id",
    "sku",
    "product_id",
    "productid",
    "uniq_id",
    "item_id",
    "itemid",
    "offer_id",
    "offerid",
    "product_sku",
)


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def missing_column_error(name: str, available: Sequence[str], source: str = "<input>") -> MissingColumnError:
    """A :class:`MissingColumnError` naming ``name``, listing ``available`` and suggesting a close match."""
    avail = [c for c in available if c not in RESERVED_COLUMNS]
    close = difflib.get_close_matches(name, avail, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in avail}
        hits = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        close = [lowered[h] for h in hits]
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(repr(c) for c in avail[:50]) + (" ..." if len(avail) > 50 else "")
    return MissingColumnError(
        f"column not found; available columns: {listing or '(none)'}{hint}", source=source, column=name
    )


def find_column(name: str, columns: Sequence[str], source: str = "<input>") -> str:
    """The actual column called ``name``: exact match first, then a unique case-insensitive match."""
    if name in columns:
        return name
    folded = [c for c in columns if _key(c) == _key(name)]
    if len(folded) == 1:
        return folded[0]
    raise missing_column_error(name, columns, source)


def detect_text_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The best title-like column and the best description-like column, in that order (either may be absent)."""
    keys = {_key(c): c for c in reversed(list(columns)) if c not in RESERVED_COLUMNS}
    found: list[str] = []
    for names in (TITLE_NAMES, DESCRIPTION_NAMES):
        for n in names:
            if n in keys and keys[n] not in found:
                found.append(keys[n])
                break
    return tuple(found)


def detect_id_column(columns: Sequence[str]) -> str | None:
    """The product-id-like column of ``columns`` (first of :data:`ID_NAMES` present), or None."""
    keys = {_key(c): c for c in reversed(list(columns)) if c not in RESERVED_COLUMNS}
    return next((keys[n] for n in ID_NAMES if n in keys), None)


def resolve_spec(
    columns: Sequence[str],
    *,
    text: Sequence[str] = (),
    label: Sequence[str] = (),
    label_sep: str | None = None,
    label_tags: bool = False,
    id: str | None = None,
    split: str | None = None,
    source: str = "<input>",
) -> ColumnSpec:
    """Check the named columns exist in ``columns`` (case-insensitively) and build a :class:`ColumnSpec`.

    Empty ``text`` auto-detects a title-like and a description-like column. Raises
    :class:`MissingColumnError` naming the missing column, listing the available ones, with a suggestion.
    """
    cols = list(columns)
    if isinstance(text, str):
        text = (text,)
    if isinstance(label, str):
        label = (label,)
    if text:
        text_cols = tuple(find_column(c, cols, source) for c in text)
    else:
        text_cols = detect_text_columns(cols)
        if not text_cols:
            listing = ", ".join(repr(c) for c in cols if c not in RESERVED_COLUMNS)
            raise MissingColumnError(
                f"no text column found (looked for title/name/description-like names); pass the text "
                f"column(s) explicitly; available columns: {listing or '(none)'}",
                source=source,
            )
    label_cols = tuple(find_column(c, cols, source) for c in label)
    if label_tags and len(label_cols) != 1:
        raise ConfigError("label_tags needs exactly one label column")
    if label_sep is not None and not label_tags and len(label_cols) > 1:
        raise ConfigError("label_sep splits a single path column; got several label columns")
    if label_sep == "":
        raise ConfigError("label_sep must not be empty")
    return ColumnSpec(
        text=text_cols,
        label=label_cols,
        label_sep=label_sep,
        label_tags=label_tags,
        id=find_column(id, cols, source) if id else None,
        split=find_column(split, cols, source) if split else None,
    )


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        try:
            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
        value = str(value)
    value = value.strip()
    return value or None


def _require(df: pd.DataFrame, cols: Sequence[str]) -> None:
    for c in cols:
        if c not in df.columns:
            raise missing_column_error(c, list(df.columns))


def label_frame(df: pd.DataFrame, spec: ColumnSpec) -> pd.DataFrame:
    """One column per taxonomy level, ``level_1..level_n``, same index as ``df``; missing levels are None.

    A single path column is split on ``spec.label_sep`` by :func:`skutag.catalogue.paths.split_path` (the
    rule cleaning uses: ``"A>B"`` and ``"A > B"`` agree); several label columns are taken one per level.
    Labels are not checked here: training and cleaning reject rows that break the path rule.
    """
    if not spec.has_labels:
        raise ConfigError("no label column(s) in the column spec")
    if spec.label_tags:
        raise ConfigError("the labels are tags, not a hierarchy; use label_tags()")
    _require(df, spec.label)
    if spec.is_path_column:
        sep = spec.label_sep or PATH_SEP
        paths: list[list[str]] = []
        for v in df[spec.label[0]].tolist():
            s = _clean(v)
            paths.append(split_path(s, sep) if s else [])
        depth = max((len(p) for p in paths), default=0) or 1
        data = {f"level_{i + 1}": [p[i] if i < len(p) else None for p in paths] for i in range(depth)}
    else:
        data = {f"level_{i + 1}": [_clean(v) for v in df[c].tolist()] for i, c in enumerate(spec.label)}
    return pd.DataFrame(data, index=df.index, dtype=object)


def parse_tags(value: Any, sep: str | None = None) -> list[str]:
    """Tags from a list, a JSON list string, or a ``sep``-separated string (default ``,``); deduplicated."""
    items: list[Any]
    if value is None:
        return []
    if isinstance(value, list | tuple):
        items = list(value)
    elif hasattr(value, "tolist") and not isinstance(value, str):
        items = list(value.tolist())
    else:
        s = _clean(value)
        if s is None:
            return []
        items = []
        if s.startswith("["):
            try:
                parsed = json.loads(s)
                items = parsed if isinstance(parsed, list) else [parsed]
            except ValueError:
                items = []
        if not items:
            items = s.split(sep or ",")
    out: list[str] = []
    for it in items:
        t = _clean(it)
        if t is not None and t not in out:
            out.append(t)
    return out


def label_tags(df: pd.DataFrame, spec: ColumnSpec) -> list[list[str]]:
    """The tag list of every row (JSON list or ``label_sep``-separated string; missing -> [])."""
    if not spec.has_labels:
        raise ConfigError("no label column in the column spec")
    _require(df, spec.label[:1])
    return [parse_tags(v, spec.label_sep) for v in df[spec.label[0]].tolist()]


def text_series(df: pd.DataFrame, spec: ColumnSpec, sep: str = " | ") -> pd.Series:
    """The text columns joined with ``sep`` per row, skipping missing/blank values ("" when all are)."""
    if not spec.text:
        raise ConfigError("no text column(s) in the column spec")
    _require(df, spec.text)
    columns = [df[c].tolist() for c in spec.text]
    joined = [sep.join(s for s in (_clean(v) for v in vals) if s) for vals in zip(*columns, strict=True)]
    return pd.Series(joined, index=df.index, dtype="str", name="text")
