"""Map a catalogue's columns to roles (text, labels, id, split) and pull labels and text out of a frame."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.paths import PATH_SEP, split_levels, unwrap_path
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
    levels: int | None = None,
    source: str = "<input>",
) -> ColumnSpec:
    """Check the named columns exist in ``columns`` (case-insensitively) and build a :class:`ColumnSpec`.

    Empty ``text`` auto-detects a title-like and a description-like column; ``levels`` keeps the first
    levels of the labels only. Raises
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
    if levels is not None and levels < 1:
        raise ConfigError(f"levels must be at least 1, got {levels}")
    if levels is not None and label_tags:
        raise ConfigError("levels keeps the first levels of a hierarchy; tags have none")
    return ColumnSpec(
        text=text_cols,
        label=label_cols,
        label_sep=label_sep,
        label_tags=label_tags,
        id=find_column(id, cols, source) if id else None,
        split=find_column(split, cols, source) if split else None,
        levels=levels,
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


@dataclass
class LabelPathStats:
    """What :func:`label_frame` found in the labels: the depth of every row's path, rows whose value listed
    several paths (the first is used), rows cut to ``spec.levels``. Positions are 0-based row positions."""

    rows: int = 0
    depth: Counter[int] = field(default_factory=Counter)
    several_paths: int = 0
    several_positions: list[int] = field(default_factory=list)
    cut: int = 0

    def depth_counts(self) -> dict[str, int]:
        """Rows per number of levels, shallowest first (``{"3": 10, "7": 990}``; 0 = no label)."""
        return {str(k): int(v) for k, v in sorted(self.depth.items())}


#: Share of distinct values above which the deepest level is taken for per-row names, not categories.
UNIQUE_SHARE_WARN = 0.5
#: Fewest labelled rows for that warning (below it, few distinct values prove nothing).
UNIQUE_MIN_ROWS = 20


def label_frame(df: pd.DataFrame, spec: ColumnSpec, stats: LabelPathStats | None = None) -> pd.DataFrame:
    """One column per taxonomy level, ``level_1..level_n``, same index as ``df``; missing levels are None.

    A single path column is split on ``spec.label_sep`` by the rule of :mod:`skutag.catalogue.paths` (the
    rule cleaning uses: ``"A>B"`` and ``"A > B"`` agree; a list-wrapped or quoted path is unwrapped, a
    list's first path used); several label columns are taken one per level. ``spec.levels`` keeps the
    first levels only. ``stats``, when given, is filled (depth per row before the cut, several paths).
    Labels are not checked here: training and cleaning reject rows that break the path rule.
    """
    if not spec.has_labels:
        raise ConfigError("no label column(s) in the column spec")
    if spec.label_tags:
        raise ConfigError("the labels are tags, not a hierarchy; use label_tags()")
    _require(df, spec.label)
    st = stats if stats is not None else LabelPathStats()
    st.rows += len(df)
    keep = spec.levels
    if spec.is_path_column:
        sep = spec.label_sep or PATH_SEP
        paths: list[list[str]] = []
        for pos, v in enumerate(df[spec.label[0]].tolist()):
            s = _clean(v)
            if not s:
                paths.append([])
                st.depth[0] += 1
                continue
            path, entries = unwrap_path(s)
            parts = split_levels(path, sep) if path else []
            if entries > 1:
                st.several_paths += 1
                if len(st.several_positions) < 10:
                    st.several_positions.append(pos)
            st.depth[len(parts)] += 1
            if keep is not None and len(parts) > keep:
                st.cut += 1
                parts = parts[:keep]
            paths.append(parts)
        depth = max((len(p) for p in paths), default=0) or 1
        data = {f"level_{i + 1}": [p[i] if i < len(p) else None for p in paths] for i in range(depth)}
    else:
        data = {f"level_{i + 1}": [_clean(v) for v in df[c].tolist()] for i, c in enumerate(spec.label)}
        present = pd.DataFrame(data, index=df.index, dtype=object).notna().to_numpy()
        st.depth.update(int(n) for n in present.sum(axis=1))
        if keep is not None and len(data) > keep:
            st.cut += int(present[:, keep:].any(axis=1).sum())
            data = {k: v for i, (k, v) in enumerate(data.items()) if i < keep}
    return pd.DataFrame(data, index=df.index, dtype=object)


def deepest_level_warning(labels: pd.DataFrame, *, option: str = "--levels") -> str | None:
    """A warning when the deepest level of each row's path is nearly unique per row (more than
    :data:`UNIQUE_SHARE_WARN` distinct values among the rows): a product name, not a category, so a model
    of these levels learns nothing; it names ``option`` with the deepest level that still looks like a
    category. None when the labels look fine (or too few rows to tell)."""
    if labels.shape[1] == 0:
        return None
    filled = labels.notna().to_numpy()
    has = filled.any(axis=1)
    n = int(has.sum())
    if n < UNIQUE_MIN_ROWS:
        return None
    last = filled.shape[1] - 1 - filled[:, ::-1].argmax(axis=1)
    values = labels.to_numpy(dtype=object)
    leaves = values[np.flatnonzero(has), last[has]]
    distinct = len(set(leaves.tolist()))
    if distinct <= UNIQUE_SHARE_WARN * n:
        return None
    depth = labels.shape[1]
    where = f"level {depth} of the labels" if (last[has] == depth - 1).all() else "the last level of each label path"
    keep = 0
    for i in range(depth - 1):
        level = labels.iloc[:, i].dropna()
        if len(level) == 0 or level.nunique() > UNIQUE_SHARE_WARN * len(level):
            break
        keep = i + 1
    advice = f"keep the first levels with {option} {keep}" if keep else f"keep the first levels with {option} N"
    return (
        f"{where} is nearly unique per row ({distinct:,} distinct values in {n:,} rows, "
        f"{distinct / n:.0%}): it looks like a product name, not a category, and a model of it learns little; "
        f"{advice}"
    )


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
