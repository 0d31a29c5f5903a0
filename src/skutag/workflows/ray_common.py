"""What the Ray pipelines of skutag share: ``predict --ray`` (:mod:`~skutag.workflows.predict_ray`), ``clean --ray``
(:mod:`~skutag.workflows.clean_ray`) and ``train --ray`` (:mod:`~skutag.workflows.train_ray`).

It exists so that no Ray workflow imports another: the connection to a cluster and the worker code it ships
(:func:`ray_session`), running a driver here or as a Ray Client task (:func:`run_driver`), the size of an actor
pool (:func:`pool_size`), the read tasks that stream skutag's reader into Ray Data (:func:`catalogue_datasource`,
with the reader's rejects in the blocks), block names, the rejects file and the fault-injection test hook.
Ray is imported inside the functions only: importing this module does not load it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from skutag.catalogue.reader import iter_catalogue
from skutag.catalogue.rejects import RejectSink
from skutag.catalogue.schema import ROW_COL, SOURCE_COL
from skutag.catalogue.storage import file_size, is_uri, local_copy, upload
from skutag.errors import ConfigError, SkutagError
from skutag.log import get_logger

log = get_logger(__name__)

#: How long the pool's first workers may take to start (an autoscaling cluster may add a node for them).
WAIT_FOR_WORKERS_S = 600
#: CPUs a read task asks for: a fraction, so that reading runs beside a full pool of actors.
READ_CPUS = 0.25
#: Column of a block row that is a reader reject (its JSON line), not a catalogue row.
REJECT_COL = "__skutag_reject"
#: Column with the index of the row's input file (names the shards).
FILE_COL = "__skutag_file"
#: Column with the row's position among the records its read task emitted (rows and reader rejects, from 0).
POS_COL = "__skutag_pos"
SHARD_PATTERN = "part-*.parquet"
REJECTS_FILE = "_rejects.jsonl"
MANIFEST_FILE = "_manifest.json"
#: Test hook: ``N:PATH`` makes the first actor to reach its N-th chunk exit (after writing the shard, before
#: answering) if PATH does not exist yet (it is created first, so that it happens once).
FAULT_ENV = "SKUTAG_RAY_FAULT"

JobT = TypeVar("JobT")
StatsT = TypeVar("StatsT")


# ---------------------------------------------------------------------------------------------- reading


def _read_file(index: int, uri: str, chunksize: int) -> Iterator[pd.DataFrame]:
    """Blocks of one input file: its chunks as :func:`iter_catalogue` reads them, each followed by the rows
    the reader rejected while reading it (``REJECT_COL`` holds the reject's JSON line)."""
    sink = RejectSink(collect=True, keep=0)
    assert sink.entries is not None
    pos = 0
    with local_copy(uri) as path:
        for chunk in iter_catalogue(path, chunksize=chunksize, rejects=sink, source=uri):
            if sink.entries:
                rejected = pd.DataFrame(
                    {
                        ROW_COL: pd.Series([int(e.get("row") or 0) for e in sink.entries], dtype="int64"),  # stays int
                        SOURCE_COL: pd.Series([uri] * len(sink.entries), dtype="str"),
                        REJECT_COL: [json.dumps(e, ensure_ascii=False, default=str) for e in sink.entries],
                    }
                )
                sink.entries.clear()
                chunk = pd.concat([chunk, rejected], ignore_index=True) if len(chunk) else rejected
            chunk[FILE_COL] = index
            chunk[POS_COL] = pd.Series(range(pos, pos + len(chunk)), dtype="int64")
            pos += len(chunk)
            yield chunk


def catalogue_datasource(files: list[str], chunksize: int) -> Any:
    import functools

    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class CatalogueSource(Datasource):
        """The input files, one read task each."""

        def __init__(self) -> None:
            self.sizes = [file_size(f) for f in files]

        def estimate_inmemory_data_size(self) -> int | None:
            known = [s for s in self.sizes if s is not None]
            return sum(known) if known else None

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
        ) -> list[ReadTask]:
            return [
                ReadTask(
                    functools.partial(_read_file, i, f, chunksize),
                    BlockMetadata(num_rows=None, size_bytes=size, exec_stats=None, input_files=(f,)),
                )
                for i, (f, size) in enumerate(zip(files, self.sizes, strict=True))
            ]

    return CatalogueSource()


# ---------------------------------------------------------------------------------------------- blocks


def split_block(batch: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A block of :func:`_read_file`: its catalogue rows (as the reader yielded them, index from 0) and the
    reader's rejects among them (as reject entries)."""
    entries: list[dict[str, Any]] = []
    is_reject = pd.Series(False, index=batch.index)
    if REJECT_COL in batch.columns:
        is_reject = batch[REJECT_COL].notna()
        entries = [json.loads(s) for s in batch.loc[is_reject, REJECT_COL]]
    rows = batch.loc[~is_reject].drop(columns=[REJECT_COL, FILE_COL, POS_COL], errors="ignore")
    return rows.reset_index(drop=True), entries


def block_key(batch: pd.DataFrame) -> str:
    """``FFFFF-PPPPPPPPPP``: the block's input file index and the position of its first record in that file. A
    block redone after a worker died has the same key, and no other block has it (names its files)."""
    return f"{int(batch[FILE_COL].iloc[0]):05d}-{int(batch[POS_COL].iloc[0]):010d}"


def maybe_fail(fault: str | None, chunks: int) -> None:
    """The ``SKUTAG_RAY_FAULT`` test hook: exit this worker process at its N-th chunk, once per marker file."""
    if not fault:
        return
    nth, _, marker = fault.partition(":")
    if chunks != int(nth):
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    log.warning("%s: exiting on chunk %s as asked (test hook)", FAULT_ENV, nth)
    os._exit(1)


# ---------------------------------------------------------------------------------------------- the driver


def first_columns(path: str, chunksize: int) -> list[str]:
    """The columns of the first chunk of ``path``, as one-process ``predict`` sees them (the id column rule)."""
    with local_copy(path) as local:
        chunk = next(iter_catalogue(local, chunksize=chunksize, rejects=RejectSink(keep=0), source=path))
    return [str(c) for c in chunk.columns]


def _skutag_cause(exc: BaseException) -> SkutagError | None:
    """A skutag error raised inside a worker, found in the chain of errors Ray wraps it in."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, SkutagError):
            return e
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]
    return None


def pool_size(cluster_cpus: float, workers: int | None, cpus_per_worker: float) -> tuple[int, int]:
    """(min, max) actors: ``workers`` exactly, else as many as the cluster's CPUs hold beside one read task."""
    room = int((cluster_cpus - READ_CPUS) // cpus_per_worker)
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        if workers > room:
            raise ConfigError(
                f"{workers} workers x {cpus_per_worker:g} CPUs plus {READ_CPUS:g} for reading need more than the "
                f"cluster's {cluster_cpus:g} CPUs; lower --workers or --cpus-per-worker"
            )
        return workers, workers
    if room < 1:
        raise ConfigError(
            f"the cluster's {cluster_cpus:g} CPUs hold no worker of {cpus_per_worker:g} CPUs beside reading; "
            "lower --cpus-per-worker"
        )
    return 1, room


@contextlib.contextmanager
def ray_session(address: str | None, **init: Any) -> Iterator[Any]:
    """Connected to the Ray cluster at ``address`` (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``), or to a new
    local one when None; disconnects (and stops a local one) afterwards unless Ray was connected already."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    import skutag

    # The workers run this very skutag (shipped as a module of the job's runtime environment): the per-row rule
    # is the driver's whatever version the cluster has installed, or none (its dependencies it needs).
    code = {"py_modules": [str(Path(skutag.__file__).parent)], "excludes": ["__pycache__", "*.pyc"]}
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": "WARNING",
        "log_to_driver": True,
        "runtime_env": code,
    }
    kwargs.update(init)
    if address is not None:  # a cluster sizes itself; these apply to a local one only
        for key in ("num_cpus", "num_gpus", "object_store_memory", "include_dashboard"):
            kwargs.pop(key, None)
    ray.init(address=address, **kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def run_driver(
    ray: Any,
    address: str | None,
    run: Callable[[JobT, Callable[[int], None] | None], StatsT],
    job: JobT,
    on_rows: Callable[[int], None] | None,
    rows: Callable[[StatsT], int],
) -> StatsT:
    """``run(job, on_rows)``: here, or through a Ray Client (``ray://``) as a task on the cluster, since Ray Data
    cannot run its pipeline from a client (progress then comes at the end, as ``rows(stats)``). A skutag error
    raised in a worker comes out as itself, not wrapped in Ray's."""
    try:
        if address is not None and address.startswith("ray://"):
            stats: StatsT = ray.get(ray.remote(num_cpus=0)(run).remote(job, None))
            if on_rows is not None:
                on_rows(rows(stats))
            return stats
        return run(job, on_rows)
    except Exception as exc:
        cause = _skutag_cause(exc)
        if cause is not None:
            raise cause from None
        raise


# ---------------------------------------------------------------------------------------------- pipeline


def configure_data_context() -> Any:
    """Ray Data's context for skutag's pipelines: no progress bars (skutag has its own), quiet."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    # the pool's first workers are up (on whichever nodes) before any chunk is handed out; a cluster that
    # cannot host them fails with a timeout instead of waiting for ever
    ctx.wait_for_min_actors_s = WAIT_FOR_WORKERS_S
    return ctx


@contextlib.contextmanager
def reject_file(target: str | None) -> Iterator[RejectSink]:
    """A sink writing ``target`` (a local path or a URI: written locally, uploaded when the block ends without
    error); None counts the rejects only."""
    if target is None:
        with RejectSink(None, keep=0) as sink:
            yield sink
        return
    if not is_uri(target):
        with RejectSink(Path(target), keep=0) as sink:
            yield sink
        return
    tmp = tempfile.mkdtemp(prefix="skutag-rejects-")
    try:
        local = Path(tmp) / REJECTS_FILE
        with RejectSink(local, keep=0) as sink:
            yield sink
        upload(local, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
