"""The inference worker: model + store writes, run in a separate process (default) or a thread.

A separate process keeps the model's Python work from contending for the GIL with the event loop: with a
thread, every numpy/SQLite call that releases the GIL must win it back from the busy loop, and a batch that
takes 30 ms alone can take ten times that under load. The worker loads the model itself (the threshold is
settled once by the parent and handed over) and commits each batch to the store before returning it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from skutag.log import get_logger
from skutag.serving.calibration import Calibration
from skutag.serving.tagger import ServedModel, Tagger, load_served_model
from skutag.store import PredictionRecord, TagStore

log = get_logger(__name__)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to rebuild the served model and open the store (picklable)."""

    model_dir: str
    calibration: dict[str, Any]
    top_k: int
    db_url: str | None
    store_predictions: bool
    threads: int = 1


class Worker:
    """Tags products and writes them to the store; one instance per worker process (or thread)."""

    def __init__(self, spec: WorkerSpec, served: ServedModel | None = None) -> None:
        cal = Calibration(**spec.calibration)
        if served is None:
            served = load_served_model(spec.model_dir, target_precision=cal.target, threshold=cal.threshold)
            served.calibration = cal
        self.served = served
        self.tagger = Tagger(served, top_k=spec.top_k)
        self.store = TagStore(spec.db_url, migrate=False) if spec.db_url and spec.store_predictions else None

    def process(self, products: list[dict[str, str]], top_k: int | None) -> list[PredictionRecord]:
        """Model then store: results are committed before any request is answered."""
        records = self.tagger.tag(products, top_k=top_k)
        if self.store is not None:
            self.store.record_predictions(records, actor=f"model:{self.served.version}")
        for r in records:
            r.fields = {}  # the caller has the text already: do not ship it back
        return records

    def explain(self, product: dict[str, str], path: list[str] | None) -> dict[str, Any]:
        return self.tagger.explain(product, path)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


_worker: Worker | None = None


def _init(spec: WorkerSpec) -> None:
    global _worker
    # batches are small: one BLAS/OpenMP thread each; more only oversubscribe the cores (and spin)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=spec.threads)
    _worker = Worker(spec)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose server died (even by SIGKILL) ends too, after finishing its current batch."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def _get() -> Worker:
    if _worker is None:
        raise RuntimeError("inference worker not initialised")
    return _worker


def remote_process(products: list[dict[str, str]], top_k: int | None) -> list[PredictionRecord]:
    return _get().process(products, top_k)


def remote_explain(product: dict[str, str], path: list[str] | None) -> dict[str, Any]:
    return _get().explain(product, path)


def remote_ping() -> str:
    return _get().served.version


@dataclass
class WorkerHandle:
    """The executor running the worker and the (picklable, for a process) functions to call in it."""

    executor: Executor
    process: Callable[[list[dict[str, str]], int | None], list[PredictionRecord]]
    explain: Callable[[dict[str, str], list[str] | None], dict[str, Any]]
    ping: Callable[[], str]
    local: Worker | None = None

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        if self.local is not None:
            self.local.close()


def start_worker(spec: WorkerSpec, *, process: bool, served: ServedModel | None = None) -> WorkerHandle:
    """One worker: a spawned process (loads its own model copy) or a thread sharing ``served``."""
    if process:
        pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_init, initargs=(spec,))
        return WorkerHandle(pool, remote_process, remote_explain, remote_ping)
    local = Worker(spec, served)
    pool_t = ThreadPoolExecutor(1, thread_name_prefix="skutag-worker")
    return WorkerHandle(pool_t, local.process, local.explain, lambda: local.served.version, local)


def spec_for(
    model_dir: str | Path, calibration: Calibration, top_k: int, db_url: str | None, store: bool, threads: int = 1
) -> WorkerSpec:
    return WorkerSpec(str(model_dir), calibration.as_dict(), top_k, db_url, store, threads)
