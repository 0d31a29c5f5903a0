"""Near-duplicate titles (MinHash-LSH over title shingles)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skutag.catalogue.schema import ColumnSpec
from skutag.quality.base import CheckResult, example_rows
from skutag.quality.checks.exact_duplicates import duplicate_counts
from skutag.quality.groups import exact_title_groups, in_group, near_title_groups


def check_near_duplicates(
    df: pd.DataFrame,
    spec: ColumnSpec,
    *,
    near_groups: np.ndarray | None = None,
    exact_groups: np.ndarray | None = None,
    threshold: float = 0.8,
    num_perm: int = 64,
    **_: Any,
) -> CheckResult:
    """Rows whose title is a near-duplicate (estimated Jaccard >= ``threshold``) of another row's.

    ``near_only_rows`` counts rows that are near-duplicates without being exact duplicates of anything.
    Score = size of the row's near-duplicate group.
    """
    groups = near_title_groups(df, spec, threshold=threshold, num_perm=num_perm) if near_groups is None else near_groups
    exact = exact_title_groups(df, spec) if exact_groups is None else exact_groups
    flags = in_group(groups)
    counts = duplicate_counts(groups)
    sizes = np.bincount(groups, minlength=len(groups))[groups] if len(groups) else np.zeros(0)
    scores = np.where(flags, sizes, 0).astype(float)
    return CheckResult(
        name="near_duplicates",
        description=f"Rows whose title is a near-duplicate (Jaccard >= {threshold}) of another row's.",
        flags=flags,
        scores=scores,
        summary={
            "near_duplicate_rows": counts["duplicate_rows"],
            "near_duplicate_groups": counts["groups"],
            "near_only_rows": int((flags & ~in_group(exact)).sum()),
        },
        examples=example_rows(df, flags, scores),
        details={"threshold": threshold, "num_perm": num_perm},
    )
