"""`clean`: stream catalogues through cleaning, duplicate detection and missing-value policies.

Pass 1 reads each input chunk by chunk, cleans it, sends dropped rows to the rejects and parks the kept
rows in temporary Parquet files, keeping only the duplicate-detection text and labels in memory.
Duplicate groups are then computed over all rows at once. Pass 2 adds the duplicate flags, drops the
duplicates if asked (keeping the first of each group) and streams everything to the output.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skutag.catalogue.columns import resolve_spec
from skutag.catalogue.reader import ReadStats, iter_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ColumnSpec
from skutag.catalogue.writer import write_catalogue
from skutag.cleaning.chunks import ChunkJob, RejectedRow, ordered_map, process_chunk, rejected_rows
from skutag.cleaning.frame import CleanOptions
from skutag.cleaning.labels import Case
from skutag.cleaning.missing import DEFAULT_PLACEHOLDERS, MissingPolicy, parse_missing_policies
from skutag.cleaning.summary import CleanSummary
from skutag.dedup import conflicting_label_groups, exact_duplicate_groups, near_duplicate_groups
from skutag.dedup.shingles import parse_shingle
from skutag.errors import ConfigError, InputError, SkutagError
from skutag.log import get_logger

log = get_logger(__name__)

Dedup = Literal["none", "exact", "near"]
DUP_GROUP = "_dup_group"
NEAR_DUP_GROUP = "_near_dup_group"
DUP_CONFLICT = "_dup_conflict"
NEAR_DUP_CONFLICT = "_near_dup_conflict"


def default_rejects_path(out: Path) -> Path:
    """``catalogue.jsonl`` -> ``catalogue.jsonl.rejects.jsonl``."""
    return out.with_name(out.name + ".rejects.jsonl")


@dataclass
class _Parked:
    """What pass 1 keeps in memory about the kept rows of all inputs."""

    files: list[Path]
    keys: list[pa.Array]
    labels: list[pa.Array]
    sources: list[str]
    source_idx: list[np.ndarray]
    rows: list[np.ndarray]


def clean_catalogue(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    text: Sequence[str] = (),
    label: Sequence[str] = (),
    label_sep: str | None = None,
    missing: Mapping[str, MissingPolicy] | str | None = None,
    placeholders: frozenset[str] = DEFAULT_PLACEHOLDERS,
    drop_empty_text: bool = True,
    dedup: Dedup = "none",
    dedup_on: Sequence[str] | None = None,
    near: bool = True,
    near_threshold: float = 0.8,
    num_perm: int = 64,
    shingle: str = "word3",
    label_case: Case = "keep",
    keep_newlines: bool = False,
    rejects_path: str | Path | None = None,
    chunksize: int = 50_000,
    fmt: str | None = None,
    encoding: str | None = None,
    progress: bool = False,
    workers: int | None = None,
) -> CleanSummary:
    """Clean ``inputs`` into ``out`` (format from its extension) and return a :class:`CleanSummary`.

    Text columns (``text``, auto-detected when empty) are stripped of HTML, repaired with ftfy and
    whitespace-normalised; label columns are whitespace-normalised (paths re-joined with ``label_sep``).
    ``missing`` maps columns to policies (or is a ``"name=drop,description=fill:"`` string); rows with no
    text at all are rejected when ``drop_empty_text``. Every row gets ``_html_fixed``, ``_unicode_fixed``,
    ``_fffd``, ``_dup_group`` (exact duplicates of the ``dedup_on`` columns, default the first text
    column), ``_dup_conflict`` (its exact group has several labels) and, when ``near`` or
    ``dedup="near"``, ``_near_dup_group`` and ``_near_dup_conflict``. Group ids are the 0-based position,
    among the rows that passed cleaning, of the group's first row. ``dedup`` drops all but the first row of
    each exact (``"exact"``) or near (``"near"``) group into the rejects. ``workers`` processes clean
    chunks in parallel (default: 2 when non-Parquet inputs exceed 64 MB, else 1). Rejects go to ``rejects_path``
    (default ``<out>.rejects.jsonl``). Rows in = rows out + rows rejected, always.
    """
    t0 = time.perf_counter()
    options = clean_options(
        inputs, dedup, chunksize, near_threshold, shingle, missing, placeholders, drop_empty_text, keep_newlines,
        label_case,
    )  # fmt: skip
    out_path = Path(out)
    rej_path = Path(rejects_path) if rejects_path is not None else default_rejects_path(out_path)
    for p in inputs:
        if Path(p).resolve() == out_path.resolve():
            raise ConfigError(f"the output {out_path} is also an input")
    rej_path.unlink(missing_ok=True)  # a stale rejects file from an earlier run would mislead
    summary = CleanSummary(out=out_path, rejects_path=rej_path, inputs=[str(p) for p in inputs])
    counts: dict[str, int] = {}
    with (
        tempfile.TemporaryDirectory(
            prefix=".skutag-clean-", dir=out_path.parent if out_path.parent.exists() else None
        ) as tmp,
        RejectSink(rej_path) as sink,
    ):
        parked, spec, rows_in = _pass_one(
            inputs,
            Path(tmp),
            text,
            label,
            label_sep,
            dedup_on,
            options,
            sink,
            counts,
            chunksize,
            fmt,
            encoding,
            progress,
            _workers(workers, inputs),
        )
        summary.text_columns = list(spec.text) if spec else []
        summary.label_columns = list(spec.label) if spec else []
        t1 = time.perf_counter()
        flags, drop_reason = _duplicates(
            parked, dedup, near or dedup == "near", near_threshold, num_perm, shingle, counts
        )
        t2 = time.perf_counter()
        rows_out = write_catalogue(_pass_two(parked, flags, drop_reason, sink), out_path)
        summary.timings_s = {"read_clean": t1 - t0, "duplicates": t2 - t1, "write": time.perf_counter() - t2}
        sink.close()
        summary.rows_in = rows_in
        summary.rows_out = rows_out
        summary.rows_rejected = sink.count
        summary.rejected_by_reason = dict(sink.by_reason)
    summary.counts = counts
    summary.duration_s = time.perf_counter() - t0
    if summary.rows_in != summary.rows_out + summary.rows_rejected:
        raise SkutagError(
            f"internal error: rows in ({summary.rows_in}) != rows out ({summary.rows_out}) + rejected "
            f"({summary.rows_rejected})"
        )
    log.info(
        "cleaned %d rows: %d out, %d rejected in %.1f s",
        summary.rows_in,
        rows_out,
        summary.rows_rejected,
        summary.duration_s,
    )
    return summary


def clean_options(
    inputs: Sequence[str | Path],
    dedup: str,
    chunksize: int,
    near_threshold: float,
    shingle: str,
    missing: Mapping[str, MissingPolicy] | str | None,
    placeholders: frozenset[str],
    drop_empty_text: bool,
    keep_newlines: bool,
    label_case: Case,
) -> CleanOptions:
    """The arguments of a ``clean`` run checked (a clear error before any work), and the per-chunk options."""
    if dedup not in ("none", "exact", "near"):
        raise ConfigError(f"dedup must be none, exact or near, got {dedup!r}")
    if not inputs:
        raise InputError("no input files given")
    if chunksize < 1:
        raise ConfigError(f"chunksize must be >= 1, got {chunksize}")
    if not 0.0 < near_threshold <= 1.0:
        raise ConfigError(f"near-duplicate threshold must be in (0, 1], got {near_threshold}")
    parse_shingle(shingle)
    policies = parse_missing_policies(missing) if isinstance(missing, str | None) else dict(missing)
    return CleanOptions(
        missing=policies,
        placeholders=frozenset(placeholders),
        drop_empty_text=drop_empty_text,
        keep_newlines=keep_newlines,
        label_case=label_case,
    )


def duplicate_reason(kind: str, source: str, row: int) -> str:
    """The reject reason of a dropped duplicate: ``exact_duplicate: of FILE row N`` (the row its group keeps)."""
    return f"{kind}: of {source} row {row}"


def apply_duplicates(
    df: pd.DataFrame, flags: Mapping[str, np.ndarray], reasons: np.ndarray
) -> tuple[pd.DataFrame, list[RejectedRow]]:
    """Pass 2 on one part of the kept rows: the duplicate flag columns added, the rows with a drop reason taken
    out as rejects (their records carry the flags too)."""
    for name, values in flags.items():
        df[name] = values
    drop = pd.notna(reasons)
    if not drop.any():
        return df, []
    return df.loc[~drop], rejected_rows(df, reasons, None, drop)


_PARALLEL_BYTES = 64 * 1024 * 1024


def _workers(workers: int | None, inputs: Sequence[str | Path]) -> int:
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        return workers
    # Parsing text formats in the main process overlaps with cleaning in the workers; Parquet reads so
    # fast that shipping chunks to workers cost more than it saved in bench_clean (2 busy cores).
    text_inputs = [Path(p) for p in inputs if Path(p).is_file() and ".parquet" not in Path(p).suffixes]
    size = sum(p.stat().st_size for p in text_inputs)
    return min(2, os.cpu_count() or 1) if size > _PARALLEL_BYTES else 1


def _chunk_tasks(
    inputs: Sequence[str | Path],
    tmp: Path,
    text: Sequence[str],
    label: Sequence[str],
    label_sep: str | None,
    dedup_on: Sequence[str] | None,
    options: CleanOptions,
    sink: RejectSink,
    chunksize: int,
    fmt: str | None,
    encoding: str | None,
    state: dict[str, Any],
) -> Iterator[tuple[pd.DataFrame, ChunkJob, Path]]:
    """Read every input chunk by chunk (reader rejects go straight to ``sink``) and yield cleaning tasks.
    ``state`` receives the first file's spec, the source list and the records read per file."""
    n = 0
    for src_i, path in enumerate(inputs):
        source = str(path)
        state["sources"].append(source)
        stats = ReadStats(source)
        job: ChunkJob | None = None
        for chunk in iter_catalogue(path, fmt=fmt, encoding=encoding, chunksize=chunksize, rejects=sink, stats=stats):
            if job is None:
                first: ColumnSpec | None = state["spec"]
                file_spec = resolve_spec(
                    list(chunk.columns),
                    text=text if first is None else first.text,
                    label=label if first is None else first.label,
                    label_sep=label_sep,
                    source=source,
                )
                state["spec"] = first or file_spec
                key_cols = key_columns(dedup_on, file_spec, list(chunk.columns), source)
                job = ChunkJob(spec=file_spec, options=options, key_columns=tuple(key_cols))
            state["source_of_chunk"].append(src_i)
            yield chunk, job, tmp / f"{n:06d}.parquet"
            n += 1
        state["records"] += stats.records


def _pass_one(
    inputs: Sequence[str | Path],
    tmp: Path,
    text: Sequence[str],
    label: Sequence[str],
    label_sep: str | None,
    dedup_on: Sequence[str] | None,
    options: CleanOptions,
    sink: RejectSink,
    counts: dict[str, int],
    chunksize: int,
    fmt: str | None,
    encoding: str | None,
    progress: bool,
    workers: int,
) -> tuple[_Parked, ColumnSpec | None, int]:
    from tqdm import tqdm

    parked = _Parked([], [], [], [], [], [])
    state: dict[str, Any] = {"spec": None, "sources": parked.sources, "records": 0, "source_of_chunk": []}
    tasks = _chunk_tasks(inputs, tmp, text, label, label_sep, dedup_on, options, sink, chunksize, fmt, encoding, state)
    bar = tqdm(desc="cleaning", unit=" rows", disable=not progress or None, leave=False)
    try:
        for i, res in enumerate(ordered_map(process_chunk, tasks, workers)):
            for k, v in res.counts.items():
                counts[k] = counts.get(k, 0) + v
            for r in res.rejected:
                sink.add(r.reason, source=r.source, row=r.row, column=r.column, record=r.record)
            if res.part is not None:
                parked.files.append(res.part)
                parked.keys.append(res.keys)
                parked.labels.append(res.labels)
                parked.source_idx.append(np.full(len(res.rows), state["source_of_chunk"][i], dtype=np.int32))
                parked.rows.append(res.rows)
            bar.update(res.rows_in)
    finally:
        bar.close()
    return parked, state["spec"], int(state["records"])


def key_columns(dedup_on: Sequence[str] | None, spec: ColumnSpec, columns: list[str], source: str) -> list[str]:
    if dedup_on:
        return [resolve_spec(columns, text=[c], source=source).text[0] for c in dedup_on]
    return list(spec.text[:1])


def _duplicates(
    parked: _Parked,
    dedup: Dedup,
    near: bool,
    threshold: float,
    num_perm: int,
    shingle: str,
    counts: dict[str, int],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Duplicate flag columns over all kept rows, and the drop reason per row (None = keep)."""
    keys = pa.concat_arrays(parked.keys) if parked.keys else pa.array([], pa.large_string())
    labels = pa.concat_arrays(parked.labels) if parked.labels else pa.array([], pa.large_string())
    n = len(keys)
    pos = np.arange(n, dtype=np.int64)
    exact = exact_duplicate_groups(keys)
    label_series = labels.to_pandas()
    flags: dict[str, np.ndarray] = {DUP_GROUP: exact, DUP_CONFLICT: conflicting_label_groups(exact, label_series)}
    counts["exact_duplicate_rows"] = int((exact != pos).sum())
    counts["conflict_rows"] = int(flags[DUP_CONFLICT].sum())
    drop_reason = np.full(n, None, dtype=object)
    groups = exact
    kind = "exact_duplicate"
    if near:
        near_g = near_duplicate_groups(keys, threshold=threshold, num_perm=num_perm, shingle=shingle)
        flags[NEAR_DUP_GROUP] = near_g
        flags[NEAR_DUP_CONFLICT] = conflicting_label_groups(near_g, label_series)
        counts["near_duplicate_rows"] = int((near_g != pos).sum())
        counts["near_conflict_rows"] = int(flags[NEAR_DUP_CONFLICT].sum())
        if dedup == "near":
            groups, kind = near_g, "near_duplicate"
    if dedup != "none":
        dup = np.flatnonzero(groups != pos)
        if len(dup):
            sources = np.concatenate(parked.source_idx)
            rows = np.concatenate(parked.rows)
            first = groups[dup]
            kinds = np.where(exact[dup] != dup, "exact_duplicate", kind)
            drop_reason[dup] = [
                duplicate_reason(k, parked.sources[s], r)
                for k, s, r in zip(kinds, sources[first], rows[first], strict=True)
            ]
    return flags, drop_reason


def _pass_two(
    parked: _Parked, flags: Mapping[str, np.ndarray], drop_reason: np.ndarray, sink: RejectSink
) -> Iterator[pd.DataFrame]:
    start = 0
    for part in parked.files:
        df = pq.read_table(part).to_pandas()
        stop = start + len(df)
        df, rejected = apply_duplicates(df, {k: v[start:stop] for k, v in flags.items()}, drop_reason[start:stop])
        for r in rejected:
            sink.add(r.reason, source=r.source, row=r.row, column=r.column, record=r.record)
        start = stop
        yield df
    if not parked.files:
        yield pd.DataFrame()
