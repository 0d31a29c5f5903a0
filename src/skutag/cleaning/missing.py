"""Missing values: what counts as missing (NA, blank, placeholders such as "n/a") and what to do per column."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from skutag.catalogue.arrow import to_arrow, to_bool
from skutag.errors import ConfigError

#: Values (compared trimmed and lower-cased) that mean "no value".
DEFAULT_PLACEHOLDERS: frozenset[str] = frozenset({"", "null", "none", "n/a", "nan"})

Action = Literal["drop", "flag", "fill"]


@dataclass(frozen=True)
class MissingPolicy:
    """``drop`` (row goes to the rejects), ``flag`` (``_missing_<col>`` column) or ``fill`` with ``value``."""

    action: Action
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> MissingPolicy:
        """``"drop"``, ``"flag"`` or ``"fill:<value>"`` (``"fill:"`` fills with the empty string)."""
        t = text.strip()
        if t in ("drop", "flag"):
            return cls(action=t)  # type: ignore[arg-type]
        if text.lstrip().startswith("fill:"):
            return cls(action="fill", value=text.lstrip()[len("fill:") :])
        if t == "fill":
            return cls(action="fill", value="")
        raise ConfigError(f"unknown missing-value policy {text!r}: use drop, flag or fill:<value>")


def parse_missing_policies(spec: str | None) -> dict[str, MissingPolicy]:
    """``"name=drop,description=fill:"`` -> ``{"name": drop, "description": fill ""}``.

    A comma inside a fill value is kept when it is not followed by ``<column>=``."""
    if not spec or not spec.strip():
        return {}
    policies: dict[str, MissingPolicy] = {}
    for item in re.split(r",(?=\s*[^,=:]+=)", spec):
        if not item.strip():
            continue
        if "=" not in item:
            raise ConfigError(f"bad missing-value policy {item!r}: expected <column>=<drop|flag|fill:value>")
        col, pol = item.split("=", 1)
        col = col.strip()
        if not col:
            raise ConfigError(f"bad missing-value policy {item!r}: empty column name")
        policies[col] = MissingPolicy.parse(pol)
    return policies


def is_missing(values: Any, placeholders: Iterable[str] = DEFAULT_PLACEHOLDERS) -> np.ndarray:
    """Boolean per value: NA, blank/whitespace-only, or a placeholder (case-insensitive)."""
    arr = to_arrow(values)
    ph = sorted({p.strip().lower() for p in placeholders} | {""})
    trimmed = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    hit = pc.is_in(trimmed, value_set=to_arrow(ph))
    return to_bool(hit) | to_bool(pc.is_null(arr))


@dataclass
class MissingOutcome:
    """Result of :func:`apply_missing_policies` on one frame."""

    frame: pd.DataFrame
    #: rows the ``drop`` policies reject, with the first column that caused it (None where kept)
    drop_column: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def drop_mask(self) -> np.ndarray:
        return np.asarray([c is not None for c in self.drop_column], dtype=bool)


def apply_missing_policies(
    df: pd.DataFrame,
    policies: Mapping[str, MissingPolicy],
    placeholders: Iterable[str] = DEFAULT_PLACEHOLDERS,
) -> MissingOutcome:
    """Apply each column's policy. Missing values in a policy column become NA (``drop``/``flag``) or the
    fill value. ``counts`` holds ``missing:<col>`` per column. Columns absent from ``df`` are an error."""
    absent = [c for c in policies if c not in df.columns]
    if absent:
        from skutag.errors import MissingColumnError

        raise MissingColumnError(f"missing-value policy names unknown column(s) {absent}", column=absent[0])
    out = df.copy()
    drop_column = np.full(len(df), None, dtype=object)
    counts: dict[str, int] = {}
    ph = list(placeholders)
    for col, pol in policies.items():
        miss = is_missing(out[col], ph)
        counts[f"missing:{col}"] = int(miss.sum())
        if pol.action == "fill":
            out[col] = out[col].astype("str").where(~miss, pol.value)
            continue
        if miss.any():
            out[col] = out[col].astype("str").where(~miss, None)
        if pol.action == "flag":
            out[f"_missing_{col}"] = miss
        else:
            sel = miss & pd.isna(drop_column)
            drop_column[sel] = col
    return MissingOutcome(frame=out, drop_column=drop_column, counts=counts)
