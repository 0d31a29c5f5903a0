"""``skutag predict --ray``: the predictions of :func:`~skutag.workflows.predict.predict_files`, row for row, made by
a Ray Data pipeline on a local or remote Ray cluster.

The pipeline: one read task per input file (skutag's own reader, so rows, ``_row`` numbers and reader rejects
are those of one process; an object-store file is copied to the task's node first) streams chunks of
``chunksize`` rows into a pool of actors (``map_batches`` with an actor pool), each of which loads the model
once (shipped through the object store, so the workers need no access to the driver's disk) and runs the one
per-chunk rule of ``predict`` (:func:`~skutag.workflows.predict.predict_chunk`). Each actor writes its chunk's
rows as a Parquet shard named after the chunk's first record (``part-FFFFF-PPPPPPPPPP.parquet``: file index,
position of the record in the file), so a chunk redone after a worker died overwrites its shard instead of adding
a second one; the actor hands the driver only counts and its rejects, which the driver writes to
``_rejects.jsonl``: a chunk whose worker died answered nothing, so its rejects are written once, by the try that
succeeded. A dead worker is restarted
and its chunk retried (Ray Data's defaults for actor pools: ``max_restarts=-1``, ``max_task_retries=-1``).
Rows in = rows out + rows rejected holds across the cluster. ``_manifest.json`` lists the shards and counts
once the run has finished (names starting with ``_`` are not read as data by Parquet dataset readers).

The workers run the driver's skutag (shipped as a ``py_modules`` entry of the job's runtime environment), so
the per-row rule is the same whatever skutag the cluster has installed. What ``clean --ray`` and ``train --ray``
share with it (the session, the driver, the readers, the rejects file) is in :mod:`~skutag.workflows.ray_common`.
Ray is imported here and there only: a plain ``predict`` never loads it.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import SOURCE_COL
from skutag.catalogue.storage import (
    expand_inputs,
    join,
    make_dir,
    remove_matching,
    write_frame,
    write_text,
)
from skutag.errors import ConfigError
from skutag.fsutil import pinned
from skutag.log import get_logger
from skutag.models.bundle import BUNDLE_FILE, load_bundle
from skutag.models.card import META_FILE, read_meta
from skutag.serving.tagger import Tagger, load_served_model
from skutag.store import PredictionRecord, TagStore
from skutag.workflows.predict import PredictStats, front_columns, output_id_column, predict_chunk
from skutag.workflows.predict_store import BulkStats, batch_actor, count_decisions, store_records
from skutag.workflows.ray_common import (
    FAULT_ENV,
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

#: What an actor answers per chunk (one row): the shard, counts, the chunk's rejects, where it ran.
ANSWER_COLUMNS = (
    "shard",
    "key",
    "rows_in",
    "rows_read",
    "read_rejects",
    "rows_out",
    "rejects",
    "records",
    "store_rejects",
    "node",
    "pid",
    "cpu_s",
)
#: Predictions per store transaction (``--db``): the batch size of one-process ``predict --db``.
STORE_BATCH = 5000


@dataclass
class RayPredictStats(PredictStats):
    """:class:`PredictStats` plus where the work ran: rows predicted per Ray node id, shards written, seconds."""

    shards: int = 0
    nodes: dict[str, int] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)
    #: CPU seconds of the actor processes (each one's total at its last answer: imports and model load included)
    worker_cpu_s: float = 0.0
    workers: int = 0
    startup_s: float = 0.0
    run_s: float = 0.0
    #: with ``db``: what went into the tag store (rows_stored + rows rejected on the way = rows read)
    store: BulkStats | None = None


# ---------------------------------------------------------------------------------------------- predicting


def _pack_model(model_dir: Path) -> bytes:
    """The model directory (the version its link points to now) as an uncompressed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(pinned(model_dir), arcname="model")
    return buf.getvalue()


def model_home(key: str) -> Path:
    """Where the workers of a node unpack the model version ``key`` (once per node; kept for the next run)."""
    return Path(tempfile.gettempdir()) / f"skutag-model-{key}"


def model_key(model_dir: Path) -> tuple[bytes, str]:
    """The model directory packed for the object store, and its digest (which names its unpacked copies)."""
    packed = _pack_model(model_dir)
    return packed, hashlib.sha256(packed).hexdigest()[:16]


@dataclass(frozen=True)
class StoreJob:
    """How the rows of ``predict --db`` become store records (those of :func:`predict_into_store`)."""

    id_column: str | None
    target_precision: float
    threshold: float | None


class ChunkPredictor:
    """A Ray actor of the pool: loads the model once, then predicts chunks and writes their shards (``out_dir``)
    and/or turns them into tag store records (``store``), which it hands to the driver to write."""

    def __init__(
        self,
        model_ref: list[Any],
        model_key: str,
        out_dir: str | None,
        k: int,
        front: list[str],
        fault: str | None = None,
        store: StoreJob | None = None,
    ) -> None:
        import ray

        # one copy of each model version per node, whatever the number of actors and runs
        home = model_home(model_key)
        if not (home / "model").is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=f".skutag-model-{model_key}-"))
            with tarfile.open(fileobj=io.BytesIO(ray.get(model_ref[0])), mode="r") as tar:
                tar.extractall(tmp, filter="data")
            try:
                os.rename(tmp, home)
            except OSError:  # another actor of this node was first
                shutil.rmtree(tmp, ignore_errors=True)
        self.bundle = load_bundle(home / "model") if out_dir is not None else None
        self.tagger: Tagger | None = None
        if store is not None:
            served = load_served_model(
                home / "model", target_precision=store.target_precision, threshold=store.threshold
            )
            self.tagger = Tagger(served, top_k=k)
        self.store = store
        self.out_dir, self.k, self.front = out_dir, k, front
        self.node = ray.get_runtime_context().get_node_id()
        self.fault = fault
        self.chunks = 0

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        if not len(batch):
            return pd.DataFrame({c: [] for c in ANSWER_COLUMNS})
        rows, entries = split_block(batch)
        read_rejects = len(entries)
        # named after its first record: the same name when the chunk is redone, never another chunk's
        name = f"part-{block_key(batch)}.parquet"
        source = str(batch[SOURCE_COL].iloc[0])
        sink = RejectSink(collect=True, keep=0)
        result = rows.iloc[:0]
        if len(rows) and self.bundle is not None:
            result = predict_chunk(self.bundle, rows, k=self.k, front=self.front, rejects=sink, source=source)
        records: list[PredictionRecord] = []
        store_sink = RejectSink(collect=True, keep=0)
        if len(rows) and self.tagger is not None and self.store is not None:
            records = store_records(self.tagger, rows, self.store.id_column, source, store_sink)
        # the rows the store road rejects are those predict_chunk rejects (one rule): listed once
        entries += (sink.entries if self.bundle is not None else store_sink.entries) or []
        if len(result) and self.out_dir is not None:
            write_frame(result, join(self.out_dir, name))
        self.chunks += 1
        maybe_fail(self.fault, self.chunks)
        return pd.DataFrame(
            {
                "shard": [name if len(result) else ""],
                "key": [name],
                "rows_in": [len(batch)],
                "rows_read": [len(rows)],
                "read_rejects": [read_rejects],
                "rows_out": [len(result)],
                "rejects": [json.dumps(entries, ensure_ascii=False, default=str)],
                "records": [json.dumps([asdict(r) for r in records], ensure_ascii=False)],
                "store_rejects": [read_rejects + store_sink.count],
                "node": [self.node],
                "pid": [os.getpid()],
                "cpu_s": [time.process_time()],  # the actor process's CPU so far (model load included)
            }
        )


# ---------------------------------------------------------------------------------------------- the driver


def predict_files_ray(
    model_dir: str | Path,
    data: str | Path | Sequence[str | Path],
    out_dir: str | Path | None,
    *,
    k: int = 3,
    chunksize: int = 50_000,
    keep_columns: Sequence[str] = (),
    on_rows: Callable[[int], None] | None = None,
    id_column: str | None = None,
    keep_id: bool = True,
    db: str | Path | None = None,
    target_precision: float = 0.98,
    threshold: float | None = None,
    address: str | None = None,
    workers: int | None = None,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float | None = None,
    ray_init: dict[str, Any] | None = None,
) -> RayPredictStats:
    """Predict every row of ``data`` (files, directories, globs; local paths or URIs such as ``s3://b/in/``) on
    Ray into Parquet shards under ``out_dir`` (a local directory or a URI prefix), with ``_rejects.jsonl`` and
    ``_manifest.json`` beside them, and/or into the tag store at ``db``. The rows, their columns and values are
    those :func:`predict_files` writes (sort by ``_source``, ``_row`` for its order); the store gets the products
    and predictions :func:`~skutag.workflows.predict_store.predict_into_store` writes (``id_column``,
    ``target_precision`` and ``threshold`` as there). Shards and rejects of an earlier run in ``out_dir`` are
    replaced.

    The driver writes the store, in transactions of ``STORE_BATCH`` predictions, from the records the workers
    answer with: a chunk redone after its worker died answered nothing the first time, so each row is stored
    once (the store appends a prediction per write, so a worker writing itself could store a row twice).

    ``address``: the cluster (None starts a local one for this run, sized by ``ray_init``: ``num_cpus``,
    ``object_store_memory`` ...). ``workers``: actors in the pool (default: autoscaling from 1 to what the
    cluster's CPUs hold at ``cpus_per_worker`` each); ``gpus_per_worker``: GPUs per actor (default: 1 when
    the cluster has GPUs and the model is not linear, else none). Local inputs must be readable at the same
    path on every node (a shared file system); give URIs otherwise."""
    importlib.import_module("ray")  # first: without the ray extra, say so before any work
    if out_dir is None and db is None:
        raise ConfigError("give an output directory, a tag store, or both")
    paths = [data] if isinstance(data, str | Path) else list(data)
    files = expand_inputs(paths)
    model_dir = Path(model_dir)
    if not (pinned(model_dir) / BUNDLE_FILE).is_file():
        read_meta(pinned(model_dir))  # a clear error for what is no model directory, before any worker starts
    meta = read_meta(pinned(model_dir)) if (pinned(model_dir) / META_FILE).is_file() else {}
    front: list[str] = []
    out = str(out_dir) if out_dir is not None else None
    if out is not None:
        id_col = output_id_column(first_columns(files[0], chunksize), id_column, files[0]) if keep_id else None
        front = front_columns(id_col, keep_columns)
        make_dir(out)
        remove_matching(out, [SHARD_PATTERN, REJECTS_FILE, MANIFEST_FILE])
    store = None
    if db is not None:
        # the model loads as the workers will load it (a model that cannot serve fails here), and the store
        # opens (and migrates) before any worker starts
        load_served_model(pinned(model_dir), target_precision=target_precision, threshold=threshold)
        TagStore(db).close()
        store = StoreJob(id_column, target_precision, threshold)
    fault = os.environ.get(FAULT_ENV) or None
    t0 = time.perf_counter()
    with ray_session(address, **(ray_init or {})) as ray:
        startup_s = time.perf_counter() - t0
        resources = ray.cluster_resources()
        lo, hi = pool_size(float(resources.get("CPU", 0)), workers, cpus_per_worker)
        gpus = gpus_per_worker
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 and meta.get("kind", "linear") != "linear" else 0.0
        packed, key = model_key(model_dir)
        job = _Job(files, out, chunksize, k, front, [ray.put(packed)], key, lo, hi, cpus_per_worker, gpus, fault)
        job.store, job.db = store, None if db is None else str(db)
        stats = run_driver(ray, address, _run_job, job, on_rows, lambda s: s.rows_read)
        stats.startup_s = startup_s
    log.info(
        "%d rows read, %d predicted, %d stored, %d rejected; %d shards from %d node(s)",
        stats.rows_read,
        stats.rows_written,
        stats.store.rows_stored if stats.store else 0,
        stats.rows_rejected,
        stats.shards,
        len(stats.nodes),
    )
    return stats


@dataclass
class _Job:
    """What the pipeline needs, once the inputs, the output columns and the pool are settled."""

    files: list[str]
    out: str | None
    chunksize: int
    k: int
    front: list[str]
    model_ref: list[Any]  # [ObjectRef of the packed model directory]
    model_key: str  # its digest
    min_workers: int
    max_workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    fault: str | None
    store: StoreJob | None = None
    db: str | None = None


class _StoreWriter:
    """The driver's side of ``--db``: the records of answered chunks, written in transactions of ``STORE_BATCH``."""

    def __init__(self, db: str) -> None:
        self.store = TagStore(db)
        self.pending: list[PredictionRecord] = []
        self.stats = BulkStats()

    def add(self, answer: str) -> None:
        self.pending += [PredictionRecord(**r) for r in json.loads(answer)]
        while len(self.pending) >= STORE_BATCH:
            self.flush(STORE_BATCH)

    def flush(self, n: int | None = None) -> None:
        batch, self.pending = self.pending[:n], self.pending[len(self.pending[:n]) :]
        if not batch:
            return
        self.stats.model_version, self.stats.threshold = batch[0].model_version, batch[0].threshold
        self.store.record_predictions(batch, actor=batch_actor(batch[0].model_version))
        count_decisions(self.stats, batch)

    def close(self) -> None:
        self.store.close()


def _run_job(job: _Job, on_rows: Callable[[int], None] | None) -> RayPredictStats:
    """Run the pipeline from a process connected to the cluster; write the rejects, the store and the manifest."""
    import ray.data

    configure_data_context()
    ds = ray.data.read_datasource(catalogue_datasource(job.files, job.chunksize), num_cpus=READ_CPUS)
    ds = ds.map_batches(
        ChunkPredictor,
        fn_constructor_kwargs={
            "model_ref": job.model_ref,
            "model_key": job.model_key,
            "out_dir": job.out,
            "k": job.k,
            "front": job.front,
            "fault": job.fault,
            "store": job.store,
        },
        batch_size=None,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(min_size=job.min_workers, max_size=job.max_workers),
        num_cpus=job.cpus_per_worker,
        num_gpus=job.gpus_per_worker or None,
    )  # Ray Data's actor pools restart a dead actor and retry its chunk (max_restarts=-1, max_task_retries=-1)
    stats = RayPredictStats(workers=job.max_workers)
    writer = _StoreWriter(job.db) if job.db is not None else None
    shards: list[str] = []
    seen: set[str] = set()
    cpu: dict[int, float] = {}
    store_rejected = 0
    t1 = time.perf_counter()
    try:
        with reject_file(join(job.out, REJECTS_FILE) if job.out is not None else None) as sink:
            for batch in ds.iter_batches(batch_size=None, batch_format="pandas"):
                for rec in batch.to_dict("records"):
                    if rec["key"] in seen:  # a chunk done twice (never expected: a failed try answers nothing)
                        log.warning("chunk %s answered twice; counted once", rec["key"])
                        continue
                    seen.add(rec["key"])
                    for entry in json.loads(rec["rejects"]):
                        sink.add_entry(entry)
                    if writer is not None:
                        writer.add(rec["records"])
                        store_rejected += int(rec["store_rejects"])
                    if rec["shard"]:
                        shards.append(rec["shard"])
                    stats.rows_read += int(rec["rows_in"])
                    stats.rows_written += int(rec["rows_out"])
                    stats.nodes[rec["node"]] = stats.nodes.get(rec["node"], 0) + int(rec["rows_read"])
                    stats.pids.add(int(rec["pid"]))
                    cpu[int(rec["pid"])] = max(cpu.get(int(rec["pid"]), 0.0), float(rec["cpu_s"]))
                    if on_rows is not None:
                        on_rows(int(rec["rows_in"]))
            if writer is not None:
                writer.flush()
            stats.rows_rejected = sink.count
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        stats.store = writer.stats
        stats.store.rows_read = stats.rows_read
        stats.store.rows_rejected = store_rejected
    stats.run_s = time.perf_counter() - t1
    stats.worker_cpu_s = sum(cpu.values())
    stats.shards = len(shards)
    if job.out is not None:
        manifest = {
            "files": job.files,
            "shards": sorted(shards),
            "rejects": REJECTS_FILE,
            "rows_read": stats.rows_read,
            "rows_written": stats.rows_written,
            "rows_rejected": stats.rows_rejected,
            "nodes": stats.nodes,
            "worker_pids": sorted(stats.pids),
        }
        if stats.store is not None:
            manifest["rows_stored"] = stats.store.rows_stored
        write_text(join(job.out, MANIFEST_FILE), json.dumps(manifest, indent=2) + "\n")
    return stats
