"""Taxonomies to map products onto: a published one by name (``shopify``, ``google``, ``gs1``) or a user's file.

A user's file is plain text, one category path per line, levels joined by `` > `` (``Home > Kitchen > Knives``;
node names only); blank lines and lines starting with ``#`` are skipped, and a parent missing from the file is
implied by its children. A file in Google's ``id - A > B`` form (its first content line starts with a number and
`` - ``) is read by the Google loader instead. Each source also carries what the taxonomy says about its nodes
beyond their names (GS1's Includes and Excludes definitions) and a fingerprint of the file it came from.

Shopify's taxonomy comes in 14 languages with the same ids in each: in a language other than English the source
also carries the English tree (``english``), so that products can be retrieved by either language's names and
each output path can be given in English too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from skutag.catalogue.paths import split_levels
from skutag.datasets import taxonomies
from skutag.datasets.paths import shared_data_dir
from skutag.errors import InputError, TaxonomyError
from skutag.taxonomy.tree import Taxonomy

#: The published taxonomies ``--taxonomy`` knows by name.
PUBLISHED = ("shopify", "google", "gs1")
_GOOGLE_LINE = re.compile(r"^\d+\s+-\s")


@dataclass(frozen=True)
class TaxonomySource:
    """A taxonomy and its node texts: ``notes`` (what a node includes) and ``excludes`` per node id; ``lang``
    the language of its names and, when that is not English, ``english``: the same tree (same ids) in English."""

    name: str
    tree: Taxonomy
    fingerprint: str
    notes: dict[str, str] = field(default_factory=dict)
    excludes: dict[str, str] = field(default_factory=dict)
    lang: str = "en"
    english: Taxonomy | None = None


def _file_hash(path: Path, *extra: str) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    for e in extra:
        h.update(b"\x00" + e.encode())
    return h.hexdigest()[:32]


def _texts(frame: pd.DataFrame, column: str) -> dict[str, str]:
    if column not in frame.columns:
        return {}
    out = {}
    for node_id, text in frame[["id", column]].itertuples(index=False, name=None):
        if isinstance(text, str) and text.strip():
            out[str(node_id)] = text.strip()
    return out


def read_path_file(path: str | Path) -> Taxonomy:
    """A taxonomy from a text file of paths (`` > `` between levels) or of Google ``id - A > B`` lines."""
    p = Path(path)
    if not p.is_file():
        raise InputError("taxonomy file not found", source=str(p))
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the taxonomy file as UTF-8 text: {exc}", source=str(p)) from exc
    content = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    content = [(n, line) for n, line in content if not line.startswith("#")]
    if not content:
        raise TaxonomyError(f"{p}: no category paths (one path per line, levels joined by ' > ')")
    if _GOOGLE_LINE.match(content[0][1]):
        return Taxonomy.from_frame(taxonomies.load_google_taxonomy(p))
    paths = []
    for lineno, line in content:
        levels = split_levels(line)
        if not levels:
            raise TaxonomyError(f"{p}, line {lineno}: no category name in {line!r}")
        paths.append(levels)
    try:
        return Taxonomy.from_paths(paths)
    except TaxonomyError as exc:
        raise TaxonomyError(f"{p}: {exc}") from None


def load_taxonomy_source(spec: str | Path, lang: str = "en") -> TaxonomySource:
    """``spec`` is ``shopify`` (in ``lang``), ``google``, ``gs1`` or the path of a taxonomy file.

    ``lang`` chooses the language of the Shopify taxonomy; Google's and GS1's are English only and a file is
    used as written, so a ``lang`` other than ``en`` is refused for them rather than silently ignored.
    """
    key = str(spec)
    if key.lower() in PUBLISHED:
        kind = key.lower()
        if kind != "shopify" and lang != "en":
            raise InputError(f"only the Shopify taxonomy comes in several languages; {kind} is English only")
        root = shared_data_dir() / "taxonomies"
        if kind == "shopify":
            if lang not in taxonomies.SHOPIFY_LANGS:
                raise InputError(f"no Shopify taxonomy for {lang!r}; available: {', '.join(taxonomies.SHOPIFY_LANGS)}")
            file = root / "shopify-2024-07" / f"{lang}.json"
            frame = taxonomies.load_shopify_taxonomy(lang, file)
            name = f"shopify ({lang})"
        elif kind == "google":
            file = root / "google-2021-09-21" / "taxonomy-with-ids.en-US.txt"
            frame = taxonomies.load_google_taxonomy(file)
            name = "google"
        else:
            file = root / "gs1-gpc" / "gs1.json.bz2"
            frame = taxonomies.load_gs1_taxonomy(file)
            name = "gs1"
        # translations carry stray spaces ('Düfte ', pt-BR 'Cabos ópticos de áudio '): a path of unstripped names
        # would fail the tree's own path check (which strips)
        frame = frame.assign(name=frame["name"].astype(str).str.strip())
        return TaxonomySource(
            name=name,
            tree=Taxonomy.from_frame(frame),
            fingerprint=_file_hash(file, kind, lang),
            notes=_texts(frame, "definition"),
            excludes=_texts(frame, "excludes"),
            lang=lang,
            english=load_taxonomy_source("shopify").tree if kind == "shopify" and lang != "en" else None,
        )
    path = Path(key).expanduser()
    if lang != "en":
        raise InputError(f"a taxonomy file is used as written; --lang {lang} applies to the Shopify taxonomy only")
    if not path.exists():
        raise InputError(f"unknown taxonomy {key!r}: give one of {', '.join(PUBLISHED)} or a file of paths")
    tree = read_path_file(path)
    return TaxonomySource(name=str(path), tree=tree, fingerprint=_file_hash(path, "paths"))
