"""``skutag clean --ray``: :func:`~skutag.workflows.clean.clean_catalogue` on a Ray cluster, with the same rows
kept, the same duplicate groups and flags, the same rejects and the same summary.

Three stages, each idempotent per block (a block is a chunk of one input file, named ``FFFFF-PPPPPPPPPP`` after
its file and first record, as for ``predict --ray``):

1. **Clean** (Ray Data: one read task per file, skutag's reader; a pool of actors): each block is cleaned by
   :func:`~skutag.cleaning.chunks.process_chunk`, the function one-process ``clean`` runs per chunk. The kept rows
   are parked as ``_park-KEY.parquet`` in the output; what duplicate detection needs of them (matching key,
   label, record number, MinHash signature) as ``_keys-KEY.parquet``
   (:func:`~skutag.dedup.sharded.key_table`). The driver gets counts and rejects, and from the kept counts the
   position of every kept row among all of them in input order: one-process ``clean``'s group ids.
2. **Duplicates** (Ray Data): each keys file becomes rows keyed by (band, bucket), exact keys in band -1 and
   LSH band keys in the others (:func:`~skutag.dedup.sharded.shuffle_rows`); a sort on (band, bucket) is the
   shuffle that brings each bucket into one partition, where the exact groups and the verified near-duplicate
   pairs are found (:func:`~skutag.dedup.sharded.bucket_edges`). The driver joins the edges (union-find) into
   groups (:func:`~skutag.dedup.sharded.resolve`), in memory that grows with the duplicates, not the rows.
3. **Write** (Ray tasks): each parked block gets its flags and drops its duplicates
   (:func:`~skutag.workflows.clean.apply_duplicates`, pass 2 of one-process ``clean``) into ``part-KEY.parquet``.

The driver writes ``_rejects.jsonl`` (rows rejected by the reader, by cleaning and as duplicates, each once:
only the try of a block that answered hands its rejects over) and ``_manifest.json`` (shards and the summary),
then deletes the parked files. Rows in = rows out + rows rejected across the cluster, checked at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skutag.catalogue.columns import resolve_spec
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import SOURCE_COL
from skutag.catalogue.storage import (
    expand_inputs,
    is_uri,
    join,
    local_copy,
    make_dir,
    remove_matching,
    upload,
    write_frame,
    write_text,
)
from skutag.cleaning.chunks import ChunkJob, RejectedRow, process_chunk
from skutag.cleaning.frame import CleanOptions
from skutag.cleaning.labels import Case
from skutag.cleaning.missing import DEFAULT_PLACEHOLDERS, MissingPolicy
from skutag.cleaning.summary import CleanSummary
from skutag.dedup.lsh import band_params
from skutag.dedup.sharded import EDGE_SCHEMA, Groups, bucket_edges, key_table, resolve, shuffle_rows
from skutag.errors import ConfigError, SkutagError
from skutag.fsutil import atomic_path
from skutag.log import get_logger
from skutag.workflows.clean import (
    DUP_CONFLICT,
    DUP_GROUP,
    NEAR_DUP_CONFLICT,
    NEAR_DUP_GROUP,
    Dedup,
    apply_duplicates,
    clean_options,
    duplicate_reason,
    key_columns,
)
from skutag.workflows.ray_common import (
    FILE_COL,
    MANIFEST_FILE,
    READ_CPUS,
    REJECTS_FILE,
    SHARD_PATTERN,
    block_key,
    catalogue_datasource,
    configure_data_context,
    first_columns,
    maybe_fail,
    pool_size,
    ray_session,
    reject_file,
    run_driver,
    split_block,
)

log = get_logger(__name__)

#: The parked files of a run (names starting with ``_``: Parquet dataset readers skip them), deleted at its end.
WORK_PATTERNS = ("_park-*.parquet", "_keys-*.parquet")
#: Signature permutations: those of one-process ``clean`` (not an option of the CLI there either).
SEED = 1


@dataclass
class RayCleanSummary(CleanSummary):
    """:class:`CleanSummary` plus where the work ran; ``target`` is the output directory or URI prefix."""

    target: str = ""
    shards: int = 0
    nodes: dict[str, int] = field(default_factory=dict)
    workers: int = 0
    startup_s: float = 0.0


@dataclass(frozen=True)
class _Settings:
    """What the cleaning actors need: the first file's columns, the options, where to park."""

    text: tuple[str, ...]
    label: tuple[str, ...]
    label_sep: str | None
    dedup_on: tuple[str, ...] | None
    options: CleanOptions
    near: bool
    num_perm: int
    shingle: str
    out: str
    fault: str | None = None


def _put(local: Path, target: str) -> None:
    """Publish the local file ``local`` at ``target`` (a URI, or a local path: whole or not at all)."""
    if is_uri(target):
        upload(local, target)
        return
    with atomic_path(target) as tmp:
        shutil.move(local, tmp)


def _entries(rejected: Sequence[RejectedRow]) -> list[dict[str, Any]]:
    """Rejected rows as the entries a reject file holds (written by the driver)."""
    sink = RejectSink(collect=True, keep=0)
    for r in rejected:
        sink.add(r.reason, source=r.source, row=r.row, column=r.column, record=r.record)
    return sink.entries or []


class BlockCleaner:
    """A Ray actor of the pool: cleans blocks as one-process ``clean`` cleans chunks, parks the kept rows and their
    duplicate keys, answers with counts and rejects."""

    def __init__(self, settings: _Settings) -> None:
        import ray

        self.s = settings
        self.node = ray.get_runtime_context().get_node_id()
        self.chunks = 0

    def _job(self, columns: list[str], source: str) -> ChunkJob:
        # a file's columns are checked against the first file's text and label columns, as one process does
        spec = resolve_spec(columns, text=self.s.text, label=self.s.label, label_sep=self.s.label_sep, source=source)
        keys = key_columns(self.s.dedup_on, spec, columns, source)
        return ChunkJob(spec=spec, options=self.s.options, key_columns=tuple(keys))

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        rows, entries = split_block(batch)
        key = block_key(batch)
        kept, counts = 0, {}
        if len(rows):
            source = str(rows[SOURCE_COL].iloc[0])
            with tempfile.TemporaryDirectory(prefix="skutag-clean-") as tmp:
                result = process_chunk(rows, self._job([str(c) for c in rows.columns], source), Path(tmp) / "p.parquet")
                counts = result.counts
                entries += _entries(result.rejected)
                if result.part is not None:
                    kept = len(result.rows)
                    table = key_table(
                        result.keys, result.labels, result.rows, near=self.s.near, num_perm=self.s.num_perm,
                        shingle=self.s.shingle,
                    )  # fmt: skip
                    pq.write_table(table, Path(tmp) / "k.parquet")
                    _put(result.part, join(self.s.out, f"_park-{key}.parquet"))
                    _put(Path(tmp) / "k.parquet", join(self.s.out, f"_keys-{key}.parquet"))
        self.chunks += 1
        maybe_fail(self.s.fault, self.chunks)
        return pd.DataFrame(
            {
                "key": [key],
                "file": [int(batch[FILE_COL].iloc[0])],
                "rows_in": [len(batch)],
                "rows_read": [len(rows)],
                "kept": [kept],
                "counts": [json.dumps(counts)],
                "rejects": [json.dumps(entries, ensure_ascii=False, default=str)],
                "node": [self.node],
            }
        )


# ---------------------------------------------------------------------------------------------- stage 2


def _shuffle_rows(
    batch: dict[str, np.ndarray], out: str, near: bool, bands: int, rows_per_band: int, num_perm: int
) -> pa.Table:
    """The shuffle rows of the blocks named in ``batch`` (their keys files, positions and input files)."""
    tables = []
    for key, offset, src in zip(batch["key"], batch["offset"], batch["file"], strict=True):
        with local_copy(join(out, f"_keys-{key}.parquet")) as path:
            table = pq.read_table(path)
        tables.append(
            shuffle_rows(
                table, int(offset), int(src), near=near, bands=bands, rows_per_band=rows_per_band, num_perm=num_perm
            )
        )
    return pa.concat_tables(tables)


def _edges(table: pa.Table, threshold: float, num_perm: int) -> pa.Table:
    return bucket_edges(table, threshold=threshold, num_perm=num_perm)


def _find_groups(job: _Job, blocks: list[dict[str, Any]]) -> Groups:
    """Stage 2: the duplicate groups over the kept rows of all blocks."""
    import ray.data
    from ray.data.context import ShuffleStrategy

    ctx = configure_data_context()
    # the task-based sort: the actor-based shuffles of Ray 2.60 (SHUFFLE_V2) had their map actors abort on this
    # machine (retried, so the result held, but a crash per run); a sort keeps a bucket in one partition
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    bands, rows_per_band = band_params(job.threshold, job.num_perm)
    items = [{"key": b["key"], "offset": b["offset"], "file": b["file"]} for b in blocks if b["kept"]]
    ds: Any = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 4 * job.max_workers)))
    ds = ds.map_batches(
        _shuffle_rows,
        fn_kwargs={
            "out": job.out, "near": job.near, "bands": bands, "rows_per_band": rows_per_band, "num_perm": job.num_perm,
        },
        batch_size=1,
        batch_format="numpy",
        num_cpus=job.cpus_per_worker,
    )  # fmt: skip
    ds = ds.sort(["band", "bucket"])
    ds = ds.map_batches(
        _edges,
        fn_kwargs={"threshold": job.threshold, "num_perm": job.num_perm},
        batch_size=None,  # the whole partition: a bucket is never split between two calls
        batch_format="pyarrow",
        num_cpus=job.cpus_per_worker,
    )
    parts = [t for t in ds.iter_batches(batch_size=None, batch_format="pyarrow") if t.num_rows]
    edges = pa.concat_tables([p.cast(EDGE_SCHEMA) for p in parts]) if parts else EDGE_SCHEMA.empty_table()
    return resolve(edges, near=job.near)


# ---------------------------------------------------------------------------------------------- stage 3


def _decisions(job: _Job, groups: Groups, blocks: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """Per block (by key), the rows whose flags differ from a group of their own, and their drop reasons."""
    reasons = np.full(len(groups.ids), None, dtype=object)
    if job.dedup != "none":
        dup, kinds, keeps = groups.drop_kinds(job.dedup)
        reasons[dup] = [
            duplicate_reason(str(k), job.files[int(groups.src[i])], int(groups.row[i]))
            for k, i in zip(kinds, keeps, strict=True)
        ]
    starts = np.array([b["offset"] for b in blocks], dtype=np.int64)
    which = np.searchsorted(starts, groups.ids, side="right") - 1
    out: dict[str, dict[str, np.ndarray]] = {}
    for i in np.unique(which):
        sel = np.flatnonzero(which == i)
        block = blocks[int(i)]
        d = {
            "local": groups.ids[sel] - block["offset"],
            DUP_GROUP: groups.exact[sel],
            DUP_CONFLICT: groups.exact_conflict[sel],
            "reason": reasons[sel],
        }
        if groups.near is not None and groups.near_conflict is not None:
            d[NEAR_DUP_GROUP] = groups.near[sel]
            d[NEAR_DUP_CONFLICT] = groups.near_conflict[sel]
        out[block["key"]] = d
    return out


def _write_block(
    out: str, key: str, offset: int, n: int, near: bool, decided: Mapping[str, np.ndarray] | None
) -> dict[str, Any]:
    """Stage 3 for one block: its parked rows with their flags, less the duplicates to drop, as its shard."""
    import ray

    with local_copy(join(out, f"_park-{key}.parquet")) as path:
        df = pq.read_table(path).to_pandas()
    if len(df) != n:
        raise SkutagError(f"internal error: parked block {key} holds {len(df)} rows, not {n}")
    gpos = np.arange(offset, offset + n, dtype=np.int64)
    flags: dict[str, np.ndarray] = {DUP_GROUP: gpos.copy(), DUP_CONFLICT: np.zeros(n, dtype=bool)}
    if near:
        flags[NEAR_DUP_GROUP] = gpos.copy()
        flags[NEAR_DUP_CONFLICT] = np.zeros(n, dtype=bool)
    reasons = np.full(n, None, dtype=object)
    if decided is not None:
        local = decided["local"]
        for name, values in flags.items():
            values[local] = decided[name]
        reasons[local] = decided["reason"]
    kept, rejected = apply_duplicates(df, flags, reasons)
    shard = f"part-{key}.parquet"
    if len(kept):
        write_frame(kept, join(out, shard))
    return {
        "shard": shard if len(kept) else "",
        "rows_out": len(kept),
        "rejects": _entries(rejected),
        "node": ray.get_runtime_context().get_node_id(),
    }


def _write_blocks(
    job: _Job, blocks: list[dict[str, Any]], decisions: Mapping[str, Mapping[str, np.ndarray]]
) -> Iterator[dict[str, Any]]:
    """Stage 3 on every block with kept rows, at most two tasks per worker in flight; answers as they come."""
    import ray

    task = ray.remote(num_cpus=job.cpus_per_worker, max_retries=3)(_write_block)
    todo = [b for b in blocks if b["kept"]]
    pending: list[Any] = []
    while todo or pending:
        while todo and len(pending) < 2 * job.max_workers:
            b = todo.pop(0)
            pending.append(task.remote(job.out, b["key"], b["offset"], b["kept"], job.near, decisions.get(b["key"])))
        done, pending = ray.wait(pending, num_returns=1)
        yield from ray.get(done)


# ---------------------------------------------------------------------------------------------- the driver


@dataclass
class _Job:
    """What the three stages need, once the inputs, the columns and the pool are settled."""

    files: list[str]
    out: str
    rejects: str
    settings: _Settings
    chunksize: int
    dedup: Dedup
    near: bool
    threshold: float
    num_perm: int
    min_workers: int
    max_workers: int
    cpus_per_worker: float


def clean_catalogue_ray(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
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
    on_rows: Callable[[int], None] | None = None,
    address: str | None = None,
    workers: int | None = None,
    cpus_per_worker: float = 1.0,
    ray_init: dict[str, Any] | None = None,
) -> RayCleanSummary:
    """Clean ``inputs`` (files, directories, globs; local or URIs) on Ray into Parquet shards under ``out_dir``
    (a directory or URI prefix; ``part-*.parquet``, ``_rejects.jsonl`` unless ``rejects_path`` says otherwise,
    ``_manifest.json``). The options, rows, flags, group ids and rejects are those of
    :func:`~skutag.workflows.clean.clean_catalogue` (sort the shards by ``_source``, ``_row`` for its order).
    ``address``, ``workers``, ``cpus_per_worker``, ``ray_init``: as for
    :func:`~skutag.workflows.predict_ray.predict_files_ray`. Local inputs must be readable at the same path on
    every node, and a local ``out_dir`` must be one shared file system for all of them."""
    import importlib

    importlib.import_module("ray")  # first: without the ray extra, say so before any work
    t0 = time.perf_counter()
    near = near or dedup == "near"
    options = clean_options(
        inputs, dedup, chunksize, near_threshold, shingle, missing, placeholders, drop_empty_text, keep_newlines,
        label_case,
    )  # fmt: skip
    if num_perm < 2:
        raise ConfigError(f"num_perm must be at least 2, got {num_perm}")
    files = expand_inputs(list(inputs))
    out = str(out_dir)
    if not is_uri(out):
        inside = [f for f in files if not is_uri(f) and Path(out).resolve() in Path(f).resolve().parents]
        if inside:
            raise ConfigError(f"the output directory {out} holds an input ({inside[0]})")
    spec = resolve_spec(
        first_columns(files[0], chunksize), text=text, label=label, label_sep=label_sep, source=files[0]
    )
    make_dir(out)
    remove_matching(out, [SHARD_PATTERN, REJECTS_FILE, MANIFEST_FILE, *WORK_PATTERNS])
    settings = _Settings(
        text=spec.text, label=spec.label, label_sep=label_sep, dedup_on=tuple(dedup_on) if dedup_on else None,
        options=options, near=near, num_perm=num_perm, shingle=shingle, out=out,
        fault=os.environ.get("SKUTAG_RAY_FAULT") or None,
    )  # fmt: skip
    rejects = str(rejects_path) if rejects_path is not None else join(out, REJECTS_FILE)
    with ray_session(address, **(ray_init or {})) as ray:
        startup_s = time.perf_counter() - t0
        lo, hi = pool_size(float(ray.cluster_resources().get("CPU", 0)), workers, cpus_per_worker)
        job = _Job(files, out, rejects, settings, chunksize, dedup, near, near_threshold, num_perm, lo, hi,
                   cpus_per_worker)  # fmt: skip
        summary = run_driver(ray, address, _run_clean, job, on_rows, lambda s: s.rows_in)
    summary.startup_s = startup_s
    summary.duration_s = time.perf_counter() - t0
    summary.text_columns, summary.label_columns = list(spec.text), list(spec.label)
    log.info(
        "cleaned %d rows on Ray: %d out in %d shards, %d rejected in %.1f s",
        summary.rows_in,
        summary.rows_out,
        summary.shards,
        summary.rows_rejected,
        summary.duration_s,
    )
    return summary


def _run_clean(job: _Job, on_rows: Callable[[int], None] | None) -> RayCleanSummary:
    """The three stages, from a process connected to the cluster; the rejects, the manifest, the check."""
    summary = RayCleanSummary(target=job.out, inputs=list(job.files), workers=job.max_workers)
    summary.rejects_path = None if is_uri(job.rejects) else Path(job.rejects)
    if not is_uri(job.out):
        summary.out = Path(job.out)
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    try:
        with reject_file(job.rejects) as sink:
            blocks = _clean_blocks(job, sink, counts, summary, on_rows)
            t1 = time.perf_counter()
            groups = resolve(EDGE_SCHEMA.empty_table(), near=job.near)
            if any(b["kept"] for b in blocks):
                groups = _find_groups(job, blocks)
            counts.update(groups.counts)
            decisions = _decisions(job, groups, blocks)
            t2 = time.perf_counter()
            shards = []
            for answer in _write_blocks(job, blocks, decisions):
                for entry in answer["rejects"]:
                    sink.add_entry(entry)
                summary.rows_out += int(answer["rows_out"])
                if answer["shard"]:
                    shards.append(answer["shard"])
            summary.rows_rejected = sink.count
            summary.rejected_by_reason = dict(sink.by_reason)
    finally:
        remove_matching(job.out, list(WORK_PATTERNS))
    summary.counts = counts
    summary.shards = len(shards)
    summary.timings_s = {"read_clean": t1 - t0, "duplicates": t2 - t1, "write": time.perf_counter() - t2}
    if summary.rows_in != summary.rows_out + summary.rows_rejected:
        raise SkutagError(
            f"internal error: rows in ({summary.rows_in}) != rows out ({summary.rows_out}) + rejected "
            f"({summary.rows_rejected})"
        )
    manifest = {
        "files": job.files,
        "shards": sorted(shards),
        "rejects": job.rejects,
        **{k: v for k, v in summary.to_dict().items() if k not in ("out", "rejects_path", "inputs")},
    }
    write_text(join(job.out, MANIFEST_FILE), json.dumps(manifest, indent=2, default=str) + "\n")
    return summary


def _clean_blocks(
    job: _Job,
    sink: RejectSink,
    counts: dict[str, int],
    summary: RayCleanSummary,
    on_rows: Callable[[int], None] | None,
) -> list[dict[str, Any]]:
    """Stage 1: every block cleaned and parked; the blocks in input order, each with its first position."""
    import ray.data

    configure_data_context()
    ds = ray.data.read_datasource(catalogue_datasource(job.files, job.chunksize), num_cpus=READ_CPUS)
    ds = ds.map_batches(
        BlockCleaner,
        fn_constructor_kwargs={"settings": job.settings},
        batch_size=None,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(min_size=job.min_workers, max_size=job.max_workers),
        num_cpus=job.cpus_per_worker,
    )  # Ray Data's actor pools restart a dead actor and retry its block
    blocks: dict[str, dict[str, Any]] = {}
    for batch in ds.iter_batches(batch_size=None, batch_format="pandas"):
        for rec in batch.to_dict("records"):
            if rec["key"] in blocks:  # never expected: a failed try answers nothing
                log.warning("block %s answered twice; counted once", rec["key"])
                continue
            blocks[rec["key"]] = {"key": rec["key"], "file": int(rec["file"]), "kept": int(rec["kept"])}
            for entry in json.loads(rec["rejects"]):
                sink.add_entry(entry)
            for k, v in json.loads(rec["counts"]).items():
                counts[k] = counts.get(k, 0) + int(v)
            summary.rows_in += int(rec["rows_in"])
            summary.nodes[rec["node"]] = summary.nodes.get(rec["node"], 0) + int(rec["rows_read"])
            if on_rows is not None:
                on_rows(int(rec["rows_in"]))
    ordered = [blocks[k] for k in sorted(blocks)]  # by file, then first record: input order
    offset = 0
    for b in ordered:
        b["offset"] = offset
        offset += b["kept"]
    return ordered
