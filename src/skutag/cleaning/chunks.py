"""Pass-1 work on one chunk (clean, park the kept rows in a temporary Parquet file), runnable in a worker
process, and an order-keeping map over chunks that uses a process pool when asked to."""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from skutag.catalogue.schema import ROW_COL, SOURCE_COL, ColumnSpec
from skutag.catalogue.writer import write_catalogue
from skutag.cleaning.frame import CleanOptions, clean_frame, joined_text
from skutag.log import get_logger

log = get_logger(__name__)


@dataclass
class RejectedRow:
    reason: str
    source: str
    row: int
    column: str | None
    record: dict[str, Any]


@dataclass
class ChunkResult:
    """What the main process needs back from one cleaned chunk (the rows themselves stay on disk)."""

    rows_in: int
    part: Path | None
    keys: pa.Array
    labels: pa.Array
    rows: np.ndarray
    counts: dict[str, int]
    rejected: list[RejectedRow] = field(default_factory=list)


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs to clean one chunk."""

    spec: ColumnSpec
    options: CleanOptions
    key_columns: tuple[str, ...]


def label_key(df: pd.DataFrame, spec: ColumnSpec) -> pa.Array:
    """The labels of each row as one string (levels joined with `` > ``), for label-conflict checks."""
    if not spec.label:
        return pa.nulls(len(df), pa.large_string())
    if spec.label_tags:
        return pa.array([None if v is None else str(v) for v in df[spec.label[0]].tolist()], type=pa.large_string())
    return joined_text(df, spec.label, " > ")


def rejected_rows(
    df: pd.DataFrame, reasons: np.ndarray, columns: np.ndarray | None, mask: np.ndarray
) -> list[RejectedRow]:
    """The rows of ``df`` under ``mask`` as rejects (record without the bookkeeping columns)."""
    out: list[RejectedRow] = []
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return out
    sub = df.iloc[idx]
    cols = [c for c in sub.columns if c not in (ROW_COL, SOURCE_COL)]
    records = sub[cols].astype(object).where(sub[cols].notna(), None).to_dict(orient="records")
    rows = sub[ROW_COL].to_numpy(dtype=np.int64)
    sources = sub[SOURCE_COL].astype(str).tolist()
    for k, i in enumerate(idx):
        col = None if columns is None else columns[i]
        out.append(
            RejectedRow(
                reason=str(reasons[i]),
                source=sources[k],
                row=int(rows[k]),
                column=None if col is None else str(col),
                record={str(key): v for key, v in records[k].items()},
            )
        )
    return out


def process_chunk(chunk: pd.DataFrame, job: ChunkJob, part: Path) -> ChunkResult:
    """Clean ``chunk``; write the kept rows to ``part``; return the rejects and what dedup needs."""
    cleaned = clean_frame(chunk, job.spec, job.options)
    keep = cleaned.keep
    rejected = rejected_rows(chunk, cleaned.reject_reason, cleaned.reject_column, ~keep) if not keep.all() else []
    kept = cleaned.frame.loc[keep]
    if len(kept) == 0:
        empty = pa.array([], pa.large_string())
        return ChunkResult(len(chunk), None, empty, empty, np.zeros(0, np.int64), cleaned.counts, rejected)
    write_catalogue(kept, part)
    return ChunkResult(
        rows_in=len(chunk),
        part=part,
        keys=joined_text(kept, job.key_columns),
        labels=label_key(kept, job.spec),
        rows=kept[ROW_COL].to_numpy(dtype=np.int64),
        counts=cleaned.counts,
        rejected=rejected,
    )


def ordered_map(fn: Callable[..., ChunkResult], tasks: Iterable[Sequence[Any]], workers: int) -> Iterator[ChunkResult]:
    """``fn(*task)`` for each task, results in task order; with ``workers`` > 1 a process pool runs them
    while the next tasks are read (at most ``2 * workers`` in flight, bounding memory)."""
    if workers > 1 and mp.current_process().daemon:
        log.warning("running inside a daemonic process, which cannot start workers: cleaning in-process")
        workers = 1
    if workers <= 1:
        for task in tasks:
            yield fn(*task)
        return
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        for task in tasks:
            pending.append(pool.submit(fn, *task))
            while len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
