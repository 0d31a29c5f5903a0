"""Duplicate detection: exact (normalised text) and near-duplicates (MinHash-LSH), and label conflicts."""

from skutag.dedup.conflicts import conflicting_label_groups
from skutag.dedup.exact import exact_duplicate_groups
from skutag.dedup.near import near_duplicate_groups

__all__ = ["conflicting_label_groups", "exact_duplicate_groups", "near_duplicate_groups"]
