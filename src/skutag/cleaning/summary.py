"""The outcome of a `clean` run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CleanSummary:
    """Counts of one :func:`skutag.workflows.clean.clean_catalogue` run; rows_in = rows_out + rows_rejected."""

    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    #: rejected rows per reason (``invalid JSON``, ``missing``, ``empty_text``, ``exact_duplicate``...)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    #: values repaired or flagged: ``html_fixed_values``, ``unicode_fixed_values``, ``fffd_values``,
    #: ``nul_stripped_values``, ``missing:<col>``, and duplicate counts ``exact_duplicate_rows``,
    #: ``near_duplicate_rows``, ``conflict_rows``
    counts: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    #: seconds per stage: ``read_clean`` (pass 1), ``duplicates``, ``write`` (pass 2)
    timings_s: dict[str, float] = field(default_factory=dict)
    out: Path | None = None
    rejects_path: Path | None = None
    inputs: list[str] = field(default_factory=list)
    text_columns: list[str] = field(default_factory=list)
    label_columns: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.rows_in / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out) if self.out else None
        d["rejects_path"] = str(self.rejects_path) if self.rejects_path else None
        d["rows_per_s"] = self.rows_per_s
        return d
