"""Which columns of a catalogue hold text, labels, ids and splits, and the reserved bookkeeping columns."""

from __future__ import annotations

from dataclasses import dataclass, field

#: 1-based record number of a row in its source file (header excluded; for JSON Lines, the line number).
ROW_COL = "_row"
#: Source file a row came from.
SOURCE_COL = "_source"
RESERVED_COLUMNS = (ROW_COL, SOURCE_COL)


@dataclass(frozen=True)
class ColumnSpec:
    """How to read a catalogue's columns.

    ``label`` names one column per taxonomy level (``["lvl1", "lvl2", "lvl3"]``); or a single path column
    split with ``label_sep`` (``"A > B > C"``); or, with ``label_tags=True``, a single column holding a
    list of tags (JSON list or ``label_sep``-separated string).
    """

    text: tuple[str, ...] = ()
    label: tuple[str, ...] = ()
    label_sep: str | None = None
    label_tags: bool = False
    id: str | None = None
    split: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_path_column(self) -> bool:
        return self.label_sep is not None and len(self.label) == 1 and not self.label_tags

    @property
    def has_labels(self) -> bool:
        return len(self.label) > 0
