"""Rejected rows: every row skutag does not pass on is written here with where it came from and why."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from skutag.catalogue.schema import ROW_COL, SOURCE_COL


@dataclass(frozen=True)
class Reject:
    source: str | None
    row: int | None
    column: str | None
    reason: str
    record: Any = None
    #: The file line the record starts on (text formats; None where unknown).
    line: int | None = None


class RejectSink:
    """Collects rejected rows; streams them to a JSON Lines file when given a path.

    ``count`` is always the number of rejects seen, so callers can hold rows in = rows out + rows rejected.
    Kept in memory only when ``path`` is None (``keep`` bounds how many are kept for examples). A reject's
    ``row`` is the record number of :data:`skutag.catalogue.schema.ROW_COL`; ``line``, where known, the file
    line its record starts on (written to the file only when known). ``collect=True`` also keeps every reject as
    the dict a file line holds (``entries``), for a worker that hands its rejects to the process that writes the
    file (:meth:`add_entry`).
    """

    def __init__(self, path: str | Path | None = None, *, keep: int = 1000, collect: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.keep = keep
        self.count = 0
        self.by_reason: dict[str, int] = {}
        self.examples: list[Reject] = []
        self.entries: list[dict[str, Any]] | None = [] if collect else None
        self._fh: TextIO | None = None

    def add(
        self,
        reason: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
        record: Any = None,
        line: int | None = None,
    ) -> None:
        rec = _jsonable(record)
        self._count(reason)
        if len(self.examples) < self.keep:
            self.examples.append(Reject(source=source, row=row, column=column, reason=reason, record=rec, line=line))
        if self.path is not None or self.entries is not None:
            # A plain dict, not dataclasses.asdict: asdict deep-copies the record (slow on big rejects).
            entry: dict[str, Any] = {"source": source, "row": row}
            if line is not None:
                entry["line"] = line
            entry.update(column=column, reason=reason, record=rec)
            self._emit(entry)

    def add_entry(self, entry: dict[str, Any]) -> None:
        """Add a reject another sink collected (one of its ``entries``), as it would have written it."""
        self._count(str(entry.get("reason", "")))
        if len(self.examples) < self.keep:
            self.examples.append(
                Reject(
                    source=entry.get("source"),
                    row=entry.get("row"),
                    column=entry.get("column"),
                    reason=str(entry.get("reason", "")),
                    record=entry.get("record"),
                    line=entry.get("line"),
                )
            )
        self._emit(entry)

    def _count(self, reason: str) -> None:
        self.count += 1
        key = reason.split(":", 1)[0]
        self.by_reason[key] = self.by_reason.get(key, 0) + 1

    def _emit(self, entry: dict[str, Any]) -> None:
        if self.entries is not None:
            self.entries.append(entry)
        if self.path is not None:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("w", encoding="utf-8")
            self._fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        elif self.path is not None and self.count == 0:
            # Nothing rejected: still leave an (empty) file, never a stale one from an earlier run.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")

    def __enter__(self) -> RejectSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(record: Any) -> Any:
    if record is None or isinstance(record, str | int | float | bool | list | dict):
        return record
    if hasattr(record, "to_dict"):
        return {str(k): (None if _isna(v) else v) for k, v in record.to_dict().items()}
    return str(record)


def _isna(v: Any) -> bool:
    try:
        return bool(v != v)
    except Exception:
        return False


EMPTY_TEXT = "empty text: all text columns are empty"


def reject_rows(
    sink: RejectSink, chunk: Any, mask: Any, reason: str, *, source: str, column: str | None = None
) -> None:
    """Add each row of the DataFrame ``chunk`` where the boolean ``mask`` holds to ``sink``: ``reason``, its file (the
    row's ``_source``, else ``source``), its record number (``_row``) and the record."""
    for i in chunk.index[mask]:
        row = chunk.loc[i]
        sink.add(
            reason,
            source=str(row.get(SOURCE_COL, source)),
            row=int(row[ROW_COL]) if ROW_COL in chunk.columns else None,
            column=column,
            record=row,
        )
