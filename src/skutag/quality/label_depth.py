"""The taxonomy's depth, as ``inspect`` reports it: levels per row, distinct labels per level, and whether
the deepest level looks like a per-row name (a product name at the end of a shop's category path)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from skutag.catalogue.columns import LabelPathStats, deepest_level_warning


def label_depth(labels: pd.DataFrame, stats: LabelPathStats) -> dict[str, Any]:
    """``levels`` (the deepest path), ``rows_by_depth`` (rows per number of levels; 0 = no label),
    ``distinct_by_level`` and ``rows_by_level`` (labelled rows), rows whose value listed several paths
    (the first is used) and a ``warning`` (None when the deepest level looks like categories)."""
    return {
        "levels": int(labels.shape[1]),
        "rows_by_depth": stats.depth_counts(),
        "distinct_by_level": {str(c): int(labels[c].nunique()) for c in labels.columns},
        "rows_by_level": {str(c): int(labels[c].notna().sum()) for c in labels.columns},
        "rows_listing_several_paths": stats.several_paths,
        "warning": deepest_level_warning(labels, option="skutag train --levels"),
    }
