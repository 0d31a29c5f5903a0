"""Which fields of a row feed each of a model's text columns: one rule for catalogue files (``skutag predict``),
the tag store (``skutag predict --db``, re-scores of stored products) and API products (``POST /v1/tag``).

A model column takes, per row, the first non-blank value of (names compared after lower-casing and folding
spaces/dashes to ``_``):

1. the field of its own name (``CategoryText``, ``categorytext``, ``category text`` ...);
2. for the model's title column (the one named ``name``, else its first title-like column): ``name``, ``title``;
3. for its description column (the one named ``description``, else its first description-like column):
   ``description``.

An alias never takes the name of another of the model's columns, so that no text reaches two columns. A product
is sent and stored with :meth:`TextFields.field` names: ``name`` for the title column, ``description`` for the
description column, every other column under its own name; reading such a product back gives the same text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.columns import DESCRIPTION_NAMES, TITLE_NAMES, _key

_ROLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("name", TITLE_NAMES, ("name", "title")),
    ("description", DESCRIPTION_NAMES, ("description",)),
)


def field_text(value: Any) -> str | None:
    """``value`` as text; None when it holds none (missing, NaN, or only white space)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


class TextFields:
    """A model's text columns and the fields of a row (file row, stored or posted product) that feed them."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns: tuple[str, ...] = tuple(columns)
        keys = [_key(c) for c in self.columns]
        self._fields = {c: c for c in self.columns}
        accepts = {c: [k] for c, k in zip(self.columns, keys, strict=True)}
        for field, names, aliases in _ROLES:
            named = [c for c, k in zip(self.columns, keys, strict=True) if k == field]
            column = next(iter(named or [c for c, k in zip(self.columns, keys, strict=True) if k in names]), None)
            if column is None:
                continue
            self._fields[column] = field
            accepts[column] += [a for a in aliases if a not in keys]
        self._accepts = {c: list(dict.fromkeys(a)) for c, a in accepts.items()}
        self._cache: dict[tuple[str, ...], dict[str, list[str]]] = {}

    def field(self, column: str) -> str:
        """The product field ``column`` is sent and stored under (``name``, ``description`` or its own name)."""
        return self._fields[column]

    @property
    def names(self) -> list[str]:
        """The product fields, one per text column, in the model's order."""
        return [self._fields[c] for c in self.columns]

    def sources(self, keys: Iterable[Any]) -> dict[str, list[str]]:
        """For each text column, the ones of ``keys`` that feed it, best first."""
        by_key: dict[str, list[str]] = {}
        for k in keys:
            if isinstance(k, str):
                by_key.setdefault(_key(k), []).append(k)
        out: dict[str, list[str]] = {}
        for column, accepted in self._accepts.items():
            found: list[str] = []
            for a in accepted:
                found += sorted(by_key.get(a, ()), key=lambda k, c=column: k != c)  # the exact name first
            out[column] = found
        return out

    def _sources(self, keys: tuple[str, ...]) -> dict[str, list[str]]:
        found = self._cache.get(keys)
        if found is None:
            if len(self._cache) > 256:
                self._cache.clear()
            found = self._cache[keys] = self.sources(keys)
        return found

    def values(self, row: Mapping[str, Any]) -> list[str]:
        """The text of each column for one row (``""`` where none of its fields holds any)."""
        sources = self._sources(tuple(row))
        out = []
        for column in self.columns:
            text = next((t for s in sources[column] if (t := field_text(row[s])) is not None), None)
            out.append(text or "")
        return out

    def has_text(self, row: Mapping[str, Any]) -> bool:
        return any(self.values(row))

    def frame(self, rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The model's input: one column per text column (``""`` where a row has no text for it), index kept."""
        if not isinstance(rows, pd.DataFrame):
            return pd.DataFrame([self.values(r) for r in rows], columns=list(self.columns), dtype=object)
        sources = self.sources(rows.columns)
        data: dict[str, list[str]] = {}
        for column in self.columns:
            texts: list[str | None] = [None] * len(rows)
            for s in sources[column]:
                values = rows[s].tolist()
                texts = [t if t is not None else field_text(v) for t, v in zip(texts, values, strict=True)]
            data[column] = [t or "" for t in texts]
        return pd.DataFrame(data, index=rows.index, columns=list(self.columns), dtype=object)

    def blank(self, texts: pd.DataFrame) -> np.ndarray:
        """True for the rows of a :meth:`frame` without any text."""
        return (texts[list(self.columns)] == "").all(axis=1).to_numpy(dtype=bool)

    def product(self, texts: Sequence[str]) -> dict[str, str]:
        """One row of :meth:`frame` as product fields: what an API client sends and the tag store keeps."""
        return {self._fields[c]: t for c, t in zip(self.columns, texts, strict=True)}

    def present(self, keys: Iterable[Any]) -> bool:
        """True when some of ``keys`` feeds some text column."""
        return any(self.sources(keys).values())
