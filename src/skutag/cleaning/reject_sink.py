"""A :class:`RejectSink` that writes the same JSON Lines, faster.

The base class serialises each reject with ``dataclasses.asdict``, which deep-copies the whole record;
with hundreds of thousands of duplicate rows rejected that dominated a `clean` run (~340 µs per reject).
This subclass builds the same dict by hand. (Candidate to fold into the base class.)
"""

from __future__ import annotations

import json
from typing import Any

from skutag.catalogue.rejects import Reject, RejectSink, _jsonable


class FastRejectSink(RejectSink):
    """Same counts, examples and file format as :class:`RejectSink`."""

    def add(
        self,
        reason: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
        record: Any = None,
    ) -> None:
        rec = _jsonable(record)
        self.count += 1
        key = reason.split(":", 1)[0]
        self.by_reason[key] = self.by_reason.get(key, 0) + 1
        if len(self.examples) < self.keep:
            self.examples.append(Reject(source=source, row=row, column=column, reason=reason, record=rec))
        if self.path is not None:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("w", encoding="utf-8")
            line = {"source": source, "row": row, "column": column, "reason": reason, "record": rec}
            self._fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
