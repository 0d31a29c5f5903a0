"""One model directory per catalogue: a category model and, beside it, an attribute extractor and a free-tag
tagger, trained together or added later, loaded, predicted and served together.

Layout: the category model's files and ``meta.json`` at the top (as always), each part a complete artefact in its
subfolder (``attributes/``, ``tags/``; :data:`~skutag.models.card.PART_NAMES`). Adding a part writes a new version
of the whole directory (the current files hard-linked, the part replaced) and swaps it in atomically, like any
save; saving the category model again keeps the parts. A directory with parts and no category model yet has a
``bundle.json`` and a card of kind ``tag-bundle``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from skutag.errors import ModelLoadError
from skutag.extraction.entries import TagEntry
from skutag.fsutil import atomic_path, pinned
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.models.card import BUNDLE_KIND, META_FILE, PART_NAMES, copy_version, read_meta, write_meta
from skutag.models.parts.attributes import AttributePart
from skutag.models.parts.tagsets import TagSetPart
from skutag.models.registry import load_model

log = get_logger(__name__)

BUNDLE_FILE = "bundle.json"
ATTRIBUTES = "attributes"
TAGS = "tags"


@dataclass
class ModelBundle:
    """What one model directory holds: any of a category model, an attribute part and a free-tag part."""

    directory: Path
    category: CategoryModel | None
    attributes: AttributePart | None = None
    tags: TagSetPart | None = None
    meta: dict[str, Any] | None = None

    @property
    def extracts_tags(self) -> bool:
        return self.attributes is not None or self.tags is not None

    @property
    def parts(self) -> dict[str, AttributePart | TagSetPart]:
        out: dict[str, AttributePart | TagSetPart] = {}
        if self.attributes is not None:
            out[ATTRIBUTES] = self.attributes
        if self.tags is not None:
            out[TAGS] = self.tags
        return out

    def require_category(self, what: str) -> CategoryModel:
        if self.category is None:
            raise ModelLoadError(
                f"{self.directory}: holds {' and '.join(self.parts) or 'no parts'} but no category model, which "
                f"{what} needs; train one into it (skutag train DATA --label COLS --out {self.directory}) — the "
                "parts are kept"
            )
        return self.category

    def predict_tags(
        self,
        rows: pd.DataFrame | Sequence[dict[str, Any]],
        target_precision: float | None = None,
        paths: Sequence[Sequence[str]] | None = None,
    ) -> list[dict[str, TagEntry]]:
        """``{name: entry}`` per row: attribute values, then free tags (an attribute keeps its name if a free tag
        has the same one; the tag is then ``tag:NAME``). ``paths``: the category model's best path per row, which
        gives the extractor each row's group when the rows lack its group column and the group is a level of the
        category model (WDC-PAVE's ``category`` learnt by both)."""
        n = len(rows)
        out: list[dict[str, TagEntry]] = [{} for _ in range(n)]
        if n == 0:
            return out
        if self.attributes is not None:
            groups = self._groups_from_paths(paths)
            for row, found in zip(out, self.attributes.predict(rows, target_precision, groups), strict=True):
                row.update(found)
        if self.tags is not None:
            for row, found in zip(out, self.tags.predict(rows, target_precision), strict=True):
                for name, entry in found.items():
                    row[f"tag:{name}" if name in row else name] = entry
        return out

    def set_threads(self, threads: int) -> None:
        """Inference threads for the parts' taggers that choose their own (the extractor's ONNX/torch runtime)."""
        for part in self.parts.values():
            tagger = getattr(part, "tagger", None)
            if tagger is not None and "num_threads" in tagger.get_params() and hasattr(tagger, "set_params"):
                tagger.set_params(num_threads=threads)

    def _groups_from_paths(self, paths: Sequence[Sequence[str]] | None) -> list[str | None] | None:
        part, model = self.attributes, self.category
        if paths is None or part is None or model is None or part.group_column is None:
            return None
        labels = [str(c).casefold() for c in (getattr(model, "card_", {}) or {}).get("label_columns") or ()]
        if part.group_column.casefold() not in labels:
            return None
        level = labels.index(part.group_column.casefold()) if len(labels) > 1 else 0
        return [p[level] if len(p) > level else None for p in paths]

    def part_digests(self) -> dict[str, str]:
        """``part/file: sha256`` of every part file (a model version changes when a part does)."""
        folder = pinned(self.directory)
        out: dict[str, str] = {}
        for name in self.parts:
            meta = read_meta(pinned(folder / name))
            out.update({f"{name}/{k}": str(v) for k, v in (meta.get("files") or {}).items()})
        return out


def load_bundle(directory: str | Path) -> ModelBundle:
    """Load the category model (if any) and the parts of ``directory``, all from one version of it."""
    folder = pinned(directory)
    meta = read_meta(folder)
    category = None if meta.get("kind") == BUNDLE_KIND else load_model(folder)
    attributes = AttributePart.load(folder / ATTRIBUTES) if (folder / ATTRIBUTES).is_dir() else None
    tags = TagSetPart.load(folder / TAGS) if (folder / TAGS).is_dir() else None
    if category is None and attributes is None and tags is None:
        raise ModelLoadError(f"{directory}: a tag bundle without parts")
    return ModelBundle(Path(directory), category, attributes, tags, meta)


def save_part(directory: str | Path, name: str, part: AttributePart | TagSetPart) -> Path:
    """Put ``part`` into the model directory as its ``name`` part (replacing an older one), atomically: the
    directory's other contents are kept, and readers see the old or the new version, never a mix."""
    if name not in PART_NAMES:
        raise ValueError(f"unknown part {name!r}; expected one of {PART_NAMES}")
    directory = Path(directory)
    with atomic_path(directory) as tmp:
        current = pinned(directory)
        if current.is_dir():
            copy_version(current, tmp, skip=(name,))
        else:
            tmp.mkdir(parents=True)
        part.save(tmp / name)
        if not (tmp / META_FILE).exists() or read_meta(tmp).get("kind") == BUNDLE_KIND:
            _write_bundle_card(tmp)
    log.info("saved the %s part in %s", name, directory)
    return directory


def _write_bundle_card(folder: Path) -> None:
    (folder / META_FILE).unlink(missing_ok=True)
    parts = sorted(p for p in PART_NAMES if (folder / p).exists())
    (folder / BUNDLE_FILE).write_text(json.dumps({"parts": parts}), "utf-8")
    write_meta(folder, BUNDLE_KIND)
