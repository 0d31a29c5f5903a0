"""Which columns of a catalogue hold text, labels, ids and splits, and the reserved bookkeeping columns."""

from __future__ import annotations

from dataclasses import dataclass, field

#: 1-based record number of a row in its source file: the one row numbering of every command and report. For
#: CSV, the data records after the header (a record whose quoted fields span several lines counts once, a
#: blank line not at all); for JSON Lines, the line number; for a JSON array, the element; for Parquet, the row.
ROW_COL = "_row"
#: Source file a row came from.
SOURCE_COL = "_source"
#: The file line a row's record starts on (the header is line 1), for text formats; added when the reader
#: is asked for it (``lines=True``), so that a reported row can be opened in an editor.
LINE_COL = "_line"
RESERVED_COLUMNS = (ROW_COL, SOURCE_COL, LINE_COL)
#: How reports state the row numbering (:data:`ROW_COL`, :data:`LINE_COL`).
ROW_NUMBERING = (
    "row = the record's number in its file, header not counted (a CSV record whose quoted fields span several "
    "lines counts once; in JSON Lines, the line); line = the file line the record starts on (header = line 1)"
)


@dataclass(frozen=True)
class ColumnSpec:
    """How to read a catalogue's columns.

    ``label`` names one column per taxonomy level (``["lvl1", "lvl2", "lvl3"]``); or a single path column
    split with ``label_sep`` (``"A > B > C"``); or, with ``label_tags=True``, a single column holding a
    list of tags (JSON list or ``label_sep``-separated string). ``levels`` keeps the first levels only
    (a path whose last part is a product name, not a category).
    """

    text: tuple[str, ...] = ()
    label: tuple[str, ...] = ()
    label_sep: str | None = None
    label_tags: bool = False
    id: str | None = None
    split: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: Keep only the first ``levels`` levels of the labels (None: all).
    levels: int | None = None

    @property
    def is_path_column(self) -> bool:
        return self.label_sep is not None and len(self.label) == 1 and not self.label_tags

    @property
    def has_labels(self) -> bool:
        return len(self.label) > 0
