"""Duplicate groups (exact or near-duplicate titles) whose rows carry different labels."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.paths import PATH_SEP
from skutag.catalogue.schema import ColumnSpec
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.columns import label_levels, title_column
from skutag.quality.groups import exact_title_groups, in_group


def conflicting_levels(groups: np.ndarray, labels: pd.DataFrame) -> pd.DataFrame:
    """Per duplicate group (index = group id): True per level where its rows' labels differ.

    Missing labels are ignored; only groups of two or more rows are listed.
    """
    mask = in_group(groups)
    sub = labels.loc[mask].reset_index(drop=True)
    sub.insert(0, "_group", groups[mask])
    return sub.groupby("_group").nunique(dropna=True) > 1


def check_conflicting_labels(
    df: pd.DataFrame,
    spec: ColumnSpec,
    *,
    exact_groups: np.ndarray | None = None,
    near_groups: np.ndarray | None = None,
    **_: Any,
) -> CheckResult:
    """Exact and near-duplicate title groups whose labels differ at any level.

    ``conflicting_groups`` counts exact-title groups conflicting at any level (per level in
    ``conflicting_groups:<level>``), ``conflicting_rows`` their rows; ``near_*`` the same for near-duplicate
    groups when those were computed. Flags rows of any conflicting group; score = number of levels in conflict.
    """
    labels = label_levels(df, spec)
    n = len(df)
    if labels is None:
        return CheckResult("conflicting_labels", "Needs labels.", np.zeros(n, bool), np.zeros(n))
    groupings = {"exact": exact_title_groups(df, spec) if exact_groups is None else exact_groups}
    if near_groups is not None:
        groupings["near"] = near_groups
    scores = np.zeros(n, dtype=float)
    summary: dict[str, Any] = {}
    details: dict[str, Any] = {}
    title = title_column(df, spec)
    for kind, groups in groupings.items():
        conf = conflicting_levels(groups, labels)
        n_levels = conf.sum(axis=1)
        bad = n_levels[n_levels > 0]
        row_levels = pd.Series(groups).map(bad).fillna(0).to_numpy(dtype=float)
        scores = np.maximum(scores, row_levels)
        prefix = "" if kind == "exact" else "near_"
        summary[f"{prefix}conflicting_groups"] = len(bad)
        summary[f"{prefix}conflicting_rows"] = int((row_levels > 0).sum())
        for level in labels.columns:
            summary[f"{prefix}conflicting_groups:{level}"] = int(conf[level].sum())
        details[f"{kind}_groups"] = _group_listing(df, labels, groups, conf, bad.index.to_numpy(), title)
    flags = scores > 0
    return CheckResult(
        name="conflicting_labels",
        description="Duplicate or near-duplicate titles whose labels differ at some level.",
        flags=flags,
        scores=scores,
        summary=summary,
        examples=example_rows(df, flags, scores),
        details=details,
    )


def _group_listing(
    df: pd.DataFrame,
    labels: pd.DataFrame,
    groups: np.ndarray,
    conf: pd.DataFrame,
    ids: np.ndarray,
    title: str | None,
    k: int = 10,
) -> list[dict[str, Any]]:
    """The first ``k`` conflicting groups: title, rows, the levels in conflict and the distinct label paths of
    its rows (whole paths: the finest level alone may be missing, or equal where a coarser level differs)."""
    titles = df[title].to_numpy() if title else None
    values = labels.to_numpy(dtype=object)
    out = []
    for gid in ids[:k]:
        rows = np.flatnonzero(groups == gid)
        paths = Counter(p for p in (_label_path(values[r]) for r in rows) if p)
        out.append(
            {
                "title": str(titles[gid]) if titles is not None else "",
                "rows": len(rows),
                "levels": [str(lv) for lv in conf.columns if conf.at[gid, lv]],
                "labels": [p for p, _ in sorted(paths.items(), key=lambda pc: (-pc[1], pc[0]))],
            }
        )
    return out


def _label_path(levels: np.ndarray) -> str:
    """``A > B > C`` from a row's levels: missing last levels dropped, a missing level inside marked."""
    parts = ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in levels]
    while parts and not parts[-1]:
        parts.pop()
    return PATH_SEP.join(p or "(missing)" for p in parts)
