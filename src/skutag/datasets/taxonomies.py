"""Published product taxonomies as one table each: id, name, parent_id, level (1-based), path (names from root)."""

from __future__ import annotations

import bz2
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from skutag.datasets.paths import shared_data_dir
from skutag.errors import InputError, TaxonomyError

TAXONOMY_COLUMNS = ("id", "name", "parent_id", "level", "path")
SHOPIFY_LANGS = ("da", "de", "en", "es", "fi", "fr", "it", "ja", "ko", "nl", "pl", "pt-BR", "pt-PT", "zh-CN")


def _frame(rows: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    cols = [*TAXONOMY_COLUMNS, *extra]
    df = pd.DataFrame(rows, columns=cols)
    df["level"] = df["level"].astype("int64")
    for c in ("id", "name", "parent_id"):
        df[c] = df[c].astype("str").where(df[c].notna(), None) if len(df) else df[c]
    return df


def _existing(path: str | Path | None, *parts: str) -> Path:
    p = Path(path) if path is not None else shared_data_dir().joinpath(*parts)
    if not p.exists():
        raise InputError("taxonomy file not found", source=str(p))
    return p


def load_google_taxonomy(path: str | Path | None = None) -> pd.DataFrame:
    """Google Product Taxonomy (``id - A > B > C`` per line; ``#`` lines are comments)."""
    p = _existing(path, "taxonomies", "google-2021-09-21", "taxonomy-with-ids.en-US.txt")
    rows: list[dict[str, Any]] = []
    by_path: dict[tuple[str, ...], str] = {}
    with p.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            ident, sep, rest = text.partition(" - ")
            if not sep or not ident.strip().isdigit():
                raise TaxonomyError(f"{p}, line {lineno}: expected 'id - A > B', found {text!r}")
            names = tuple(part.strip() for part in rest.split(" > "))
            parent = by_path.get(names[:-1]) if len(names) > 1 else None
            if len(names) > 1 and parent is None:
                raise TaxonomyError(f"{p}, line {lineno}: parent {' > '.join(names[:-1])!r} not defined before")
            by_path[names] = ident.strip()
            rows.append(
                {"id": ident.strip(), "name": names[-1], "parent_id": parent, "level": len(names), "path": list(names)}
            )
    return _frame(rows)


def load_shopify_taxonomy(lang: str = "en", path: str | Path | None = None) -> pd.DataFrame:
    """Shopify Standard Product Taxonomy 2024-07 in one language (ids are the same in every language).

    Adds ``vertical`` (the vertical's name) to the common columns.
    """
    if path is None and lang not in SHOPIFY_LANGS:
        raise InputError(f"no Shopify taxonomy for language {lang!r}; available: {', '.join(SHOPIFY_LANGS)}")
    p = _existing(path, "taxonomies", "shopify-2024-07", f"{lang}.json")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TaxonomyError(f"{p}: invalid JSON: {exc}") from exc
    nodes: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for vertical in doc.get("verticals", []):
        for cat in vertical.get("categories", []):
            cid = str(cat["id"])
            nodes[cid] = {"name": cat["name"], "parent_id": cat.get("parent_id"), "vertical": vertical.get("name")}
            order.append(cid)
    rows: list[dict[str, Any]] = []
    for cid in order:
        path_names: list[str] = []
        cur: str | None = cid
        seen: set[str] = set()
        while cur is not None:
            if cur in seen or cur not in nodes:
                raise TaxonomyError(f"{p}: category {cid!r} has a broken parent chain at {cur!r}")
            seen.add(cur)
            path_names.append(nodes[cur]["name"])
            cur = nodes[cur]["parent_id"]
        node = nodes[cid]
        rows.append(
            {
                "id": cid,
                "name": node["name"],
                "parent_id": node["parent_id"],
                "level": len(path_names),
                "path": path_names[::-1],
                "vertical": node["vertical"],
            }
        )
    return _frame(rows, ("vertical",))


def load_gs1_taxonomy(path: str | Path | None = None) -> pd.DataFrame:
    """GS1 GPC as segment > family > brick (the file's ``class`` level repeats the family and is skipped).

    Adds ``definition`` (what the brick includes: the file's definition, whose Excludes sentences were cut) and
    ``excludes`` (those sentences, from the file's original definition); both empty for segments and families.
    """
    p = _existing(path, "taxonomies", "gs1-gpc", "gs1.json.bz2")
    opener = bz2.open if p.suffix == ".bz2" else open
    try:
        with opener(p, "rt", encoding="utf-8") as fh:
            records = json.load(fh)
    except (OSError, ValueError) as exc:
        raise TaxonomyError(f"{p}: unreadable GS1 file: {exc}") from exc
    segments: dict[str, dict[str, Any]] = {}
    families: dict[tuple[str, str], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for r in records:
        if r.get("level") == "segment":
            row = {"id": r["code"], "name": r["text"], "parent_id": None, "level": 1, "path": [r["text"]]}
            segments[r["text"]] = row
            rows.append({**row, "definition": r.get("definition") or None})
    for r in records:
        if r.get("level") == "family":
            seg = segments.get(r.get("segment", ""))
            if seg is None:
                raise TaxonomyError(f"{p}: family {r['code']} names an unknown segment {r.get('segment')!r}")
            row = {
                "id": r["code"],
                "name": r["text"],
                "parent_id": seg["id"],
                "level": 2,
                "path": [seg["name"], r["text"]],
            }
            families[(seg["name"], r["text"])] = row
            rows.append({**row, "definition": r.get("definition") or None})
    for r in records:
        if r.get("level") == "brick":
            fam = families.get((r.get("segment", ""), r.get("family", "")))
            if fam is None:
                raise TaxonomyError(f"{p}: brick {r['code']} names an unknown family {r.get('family')!r}")
            rows.append(
                {
                    "id": r["code"],
                    "name": r["brick"],
                    "parent_id": fam["id"],
                    "level": 3,
                    "path": [*fam["path"], r["brick"]],
                    "definition": r.get("definition") or None,
                    "excludes": _excludes(r.get("original definition")),
                }
            )
    return _frame(rows, ("definition", "excludes"))


_EXCLUDES = re.compile(r"(?:Specifically )?[Ee]xcludes\b[^.]*\.?")


def _excludes(definition: object) -> str | None:
    """The Excludes sentences of a GS1 definition (``Excludes products such as Artists Paints.``), or None."""
    if not isinstance(definition, str):
        return None
    found = " ".join(m.group(0).strip() for m in _EXCLUDES.finditer(definition))
    return found or None
