"""Read attribute-labelled files in the layouts users have, into :class:`AttributeData`, with no conversion:

- **WDC-PAVE** JSON Lines: ``input_title``, ``input_description``, ``category``, ``target_scores``
  ``{attribute: {value: {...}}}`` (``n/a``: asked, absent);
- **ExtractGPT** style: the text in ``input``, the same ``target_scores`` (``{attribute: {value: 1}}``);
- **CoNLL / BIO**: one token (a character, for Chinese) and its tag per line, a blank line between products
  (``.conll``, ``.bio``, or a ``.txt`` whose lines look so);
- **one column per attribute** (``--attributes Brand,Colour``): a plain catalogue whose cells hold the values;
  the values are placed in the text by matching, and the share that occurs nowhere is reported;
- **``skutag export-reviews`` output**: a ``tags`` column of JSON objects ``{attribute: entry}``; reviewed spans are
  kept as given.

Rows without text, and cells that are not what the layout needs, are rejected with file, row and reason: rows in =
examples + rows rejected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from skutag.catalogue.columns import _key, detect_text_columns, find_column
from skutag.catalogue.fields import field_text
from skutag.catalogue.reader import read_catalogue
from skutag.catalogue.rejects import EMPTY_TEXT, RejectSink
from skutag.catalogue.schema import ROW_COL, SOURCE_COL
from skutag.datasets.pave import NA_VALUE
from skutag.datasets.taobao import bio_spans, read_conll
from skutag.errors import ConfigError, InputError
from skutag.extraction.bio import Span, find_spans
from skutag.extraction.entries import entry_value
from skutag.extraction.examples import AttributeData, AttributeExample, field_offsets, join_fields, matching_counts

CONLL_SUFFIXES = (".conll", ".bio", ".iob", ".bmes")
_TAG = re.compile(r"^(O|[BIES]-\S+)$")
GROUP_NAMES = ("category", "product_category", "group")
TAGS_COLUMN = "tags"
_NA = {"", NA_VALUE, "na", "none", "null", "nan"}


def read_attribute_data(
    paths: str | Path | Sequence[str | Path],
    *,
    attributes: Sequence[str] = (),
    text: Sequence[str] = (),
    group: str | None = None,
    rejects: RejectSink | None = None,
) -> AttributeData:
    """Examples from ``paths`` (their layout recognised as in the module docstring).

    ``attributes``: the columns holding one attribute each (the one-column-per-attribute layout); ``text``: the
    text columns (default: the layout's, else a detected title and description column); ``group``: the column
    deciding which attributes each row is asked for (default: ``category`` where there is one)."""
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise ConfigError("no input files")
    sink = rejects if rejects is not None else RejectSink()
    before = sink.count
    if all(_is_conll(p) for p in files):
        data = _read_conll(files, sink)
    else:
        if any(_is_conll(p) for p in files):
            raise ConfigError("mix of CoNLL and table files; give one layout per command")
        df = read_catalogue(files, rejects=sink)
        data = _read_table(df, list(attributes), list(text), group, sink, ", ".join(map(str, files)))
    data.rows_rejected = sink.count - before
    data.matching = matching_counts(data.examples)
    if not data.examples:
        raise InputError("no usable rows: every row was rejected (see the rejects file)", source=str(files[0]))
    if not data.attributes:
        raise ConfigError(f"{files[0]}: no attribute values to learn from")
    return data


# ---- CoNLL --------------------------------------------------------------------------------------------
def _is_conll(path: Path) -> bool:
    if path.suffix.lower() in CONLL_SUFFIXES:
        return True
    if path.suffix.lower() != ".txt" or not path.is_file():
        return False
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        lines = [ln.rstrip("\r\n") for _, ln in zip(range(200), fh, strict=False)]
    tagged = [ln for ln in lines if ln.strip()]
    ok = sum(bool(_TAG.match(ln.rsplit(None, 1)[-1])) and len(ln.split()) <= 2 for ln in tagged)
    return bool(tagged) and ok >= 0.9 * len(tagged)


def _read_conll(files: list[Path], sink: RejectSink) -> AttributeData:
    examples: list[AttributeExample] = []
    for path in files:
        sentences = read_conll(path, rejects=sink)
        chars_only = sum(len(t) == 1 for chars, _ in sentences for t in chars) >= 0.9 * max(
            1, sum(len(chars) for chars, _ in sentences)
        )
        for number, (tokens, tags) in enumerate(sentences, start=1):
            sep = "" if chars_only else " "
            starts, pos = [], 0
            for t in tokens:
                starts.append(pos)
                pos += len(t) + len(sep)
            text = sep.join(tokens)
            spans: list[Span] = []
            gold: dict[str, list[str]] = {}
            for kind, a, b in bio_spans([_bio(t) for t in tags]):
                s, e = starts[a], starts[b - 1] + len(tokens[b - 1])
                spans.append((kind, s, e))
                gold.setdefault(kind, []).append(text[s:e])
            examples.append(AttributeExample({"title": text}, None, gold, spans, str(path), number))
    attributes = sorted({a for ex in examples for a in ex.gold})
    for ex in examples:  # every type is asked of every sentence: one it lacks is absent, not unknown
        ex.gold = {a: ex.gold.get(a, []) for a in attributes}
    return AttributeData(examples, ["title"], attributes, None, "conll")


def _bio(tag: str) -> str:
    """BIOES/BMES tags as BIO (S- and E-/M- continue or open a span like B-/I-)."""
    if tag[:2] in ("S-",):
        return "B-" + tag[2:]
    if tag[:2] in ("E-", "M-"):
        return "I-" + tag[2:]
    return tag


# ---- tables (PAVE, ExtractGPT, one column per attribute, exported reviews) ------------------------------------
def _read_table(
    df: pd.DataFrame, attributes: list[str], text: list[str], group: str | None, sink: RejectSink, source: str
) -> AttributeData:
    columns = [str(c) for c in df.columns if c not in (ROW_COL, SOURCE_COL) and not str(c).startswith("_")]
    keys = {_key(c): c for c in columns}
    if attributes:
        fmt = "columns"
    elif "target_scores" in keys:
        fmt = "extractgpt" if "input" in keys and "input_title" not in keys else "pave"
    elif TAGS_COLUMN in keys:
        fmt = "reviews"
    else:
        raise ConfigError(
            f"{source}: no attributes found: name the columns that hold one attribute each with --attributes "
            "(e.g. --attributes Brand,Colour), or give WDC-PAVE / ExtractGPT JSON (a target_scores field), a "
            "CoNLL file, or an export-reviews file (a tags column)"
        )
    if text:
        text_cols = [find_column(t, columns, source) for t in text]
    elif fmt == "extractgpt":
        text_cols = [keys["input"]]
    else:
        text_cols = [c for c in detect_text_columns(columns) if c not in attributes]
    if not text_cols:
        raise ConfigError(f"{source}: no title or description column found; name the text columns with --text")
    group_col = (
        find_column(group, columns, source) if group else next((keys[g] for g in GROUP_NAMES if g in keys), None)
    )
    attr_cols = [find_column(a, columns, source) for a in attributes]
    examples: list[AttributeExample] = []
    for rec in df.to_dict(orient="records"):
        src, row = str(rec.get(SOURCE_COL, source)), _row(rec)
        values = {c: field_text(rec.get(c)) or "" for c in text_cols}
        if not any(values.values()):
            sink.add(EMPTY_TEXT, source=src, row=row, column=text_cols[0], record=rec)
            continue
        grp = field_text(rec.get(group_col)) if group_col else None
        try:
            if fmt in ("pave", "extractgpt"):
                gold, spans = _target_scores(rec.get(keys["target_scores"])), None
            elif fmt == "columns":
                gold = {a: _cell_values(rec.get(c)) for a, c in zip(attributes, attr_cols, strict=True)}
                spans = None
            else:
                gold, spans = _review_tags(rec.get(keys[TAGS_COLUMN]), text_cols, values)
        except ValueError as exc:
            column = "target_scores" if fmt != "reviews" else TAGS_COLUMN
            sink.add(str(exc), source=src, row=row, column=column, record=rec)
            continue
        examples.append(AttributeExample(values, grp, gold, spans, src, row))
    found = sorted({a for ex in examples for a in ex.gold})
    return AttributeData(examples, text_cols, attributes or found, group_col, fmt)


def _row(rec: Any) -> int | None:
    value = rec.get(ROW_COL)
    return int(value) if isinstance(value, int | float) and value == value else None


def _target_scores(value: Any) -> dict[str, list[str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("target_scores is not a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError(f"target_scores is not an object of attributes (found {type(value).__name__})")
    gold: dict[str, list[str]] = {}
    for attr, values in value.items():
        if isinstance(values, (dict, list)):
            vals = [str(v) for v in values if str(v).strip().lower() not in _NA]
        elif isinstance(values, str):
            vals = [] if values.strip().lower() in _NA else [values]
        else:
            raise ValueError(f"target_scores[{attr!r}] is neither an object of values nor a value")
        gold[str(attr)] = vals
    return gold


def _cell_values(value: Any) -> list[str]:
    """A cell of an attribute column: empty or ``n/a`` is absent; a JSON list or ``a|b`` holds several values."""
    text = field_text(value)
    if text is None or text.strip().lower() in _NA:
        return []
    if text.startswith("["):
        try:
            items = json.loads(text)
            if isinstance(items, list):
                return [str(v) for v in items if str(v).strip()]
        except json.JSONDecodeError:
            pass
    return [v.strip() for v in text.split("|") if v.strip()]


def _review_tags(
    value: Any, text_cols: list[str], values: dict[str, str]
) -> tuple[dict[str, list[str]], list[Span] | None]:
    """An export's ``tags`` cell: gold values, and the reviewed spans placed in the joined text."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise ValueError("tags is not a JSON object") from None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError(f"tags is not an object of attributes (found {type(value).__name__})")
    offsets = dict(zip(text_cols, field_offsets(list(values.values())), strict=True))
    by_field = {_key(c): c for c in text_cols} | {"name": text_cols[0]}
    if len(text_cols) > 1:
        by_field.setdefault("description", text_cols[1])
    gold: dict[str, list[str]] = {}
    spans: list[Span] = []
    unplaced: list[tuple[str, str]] = []
    for attr, entry in value.items():
        if isinstance(entry, dict) and entry.get("kind") == "tag":
            continue
        v = entry_value(entry)
        gold[str(attr)] = [v] if v.strip() else []
        col = by_field.get(_key(str(entry.get("field", "")))) if isinstance(entry, dict) else None
        s, e = (entry.get("start"), entry.get("end")) if isinstance(entry, dict) else (None, None)
        if col is not None and isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= len(values[col]):
            spans.append((str(attr), offsets[col] + s, offsets[col] + e))
            # a reviewer may give the span's value in other words ("Steel" -> "stainless steel"): both are right
            gold[str(attr)] = list(dict.fromkeys([v, values[col][s:e]] if v.strip() else [values[col][s:e]]))
        elif v.strip():
            unplaced.append((str(attr), v))
    joined = join_fields(list(values.values()))
    for attr, v in unplaced:  # a value without a span (typed by a reviewer, or in another field): found by matching
        spans.extend((attr, a, b) for a, b in find_spans(joined, v))
    return gold, spans


def read_tag_sets(
    paths: str | Path | Sequence[str | Path],
    column: str,
    *,
    text: Sequence[str] = (),
    rejects: RejectSink | None = None,
) -> tuple[list[dict[str, str]], list[list[str]], list[str], int]:
    """Rows of free tags (``--tags COL``: a JSON list, or tags separated by ``|``, ``;`` or ``,``): the text
    fields per row, the tags per row, the text columns, and the number of rows rejected."""
    sink = rejects if rejects is not None else RejectSink()
    before = sink.count
    files = [paths] if isinstance(paths, str | Path) else list(paths)
    df = read_catalogue(files, rejects=sink)
    columns = [str(c) for c in df.columns]
    source = ", ".join(map(str, files))
    tag_col = find_column(column, columns, source)
    text_cols = [find_column(t, columns, source) for t in text] if text else list(detect_text_columns(columns))
    if not text_cols:
        raise ConfigError(f"{source}: no title or description column found; name the text columns with --text")
    fields, tags = [], []
    for rec in df.to_dict(orient="records"):
        values = {c: field_text(rec.get(c)) or "" for c in text_cols}
        if not any(values.values()):
            sink.add("empty text", source=str(rec.get(SOURCE_COL, source)), row=_row(rec), column=text_cols[0])
            continue
        fields.append(values)
        tags.append(_tag_list(rec.get(tag_col)))
    return fields, tags, text_cols, sink.count - before


def _tag_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return sorted({str(v).strip() for v in value if str(v).strip()})
    text = field_text(value)
    if text is None:
        return []
    if text.startswith("["):
        try:
            items = json.loads(text)
            if isinstance(items, list):
                return sorted({str(v).strip() for v in items if str(v).strip()})
        except json.JSONDecodeError:
            pass
    sep = next((s for s in ("|", ";", ",") if s in text), None)
    return sorted({t.strip() for t in (text.split(sep) if sep else [text]) if t.strip()})
