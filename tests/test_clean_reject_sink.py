"""FastRejectSink writes exactly what RejectSink writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from skutag.catalogue.rejects import RejectSink
from skutag.cleaning.reject_sink import FastRejectSink


def test_same_file_counts_and_examples(tmp_path: Path) -> None:
    calls = [
        ("invalid JSON: x", {"source": "a.jsonl", "row": 2, "column": None, "record": "{bad"}),
        ("missing: no value", {"source": "b.csv", "row": 5, "column": "title", "record": {"t": None, "n": 1.5}}),
        ("exact_duplicate: of b.csv row 1", {"source": "b.csv", "row": 7, "record": pd.Series({"t": "é", "x": None})}),
        ("other", {}),
    ]
    sinks = [RejectSink(tmp_path / "base.jsonl", keep=2), FastRejectSink(tmp_path / "fast.jsonl", keep=2)]
    for sink in sinks:
        for reason, kw in calls:
            sink.add(reason, **kw)  # type: ignore[arg-type]
        sink.close()
    base, fast = sinks
    assert (tmp_path / "base.jsonl").read_bytes() == (tmp_path / "fast.jsonl").read_bytes()
    assert (base.count, base.by_reason, base.examples) == (fast.count, fast.by_reason, fast.examples)
