"""The inference worker: model + store writes, run in a separate process (default) or a thread.

A separate process keeps the model's Python work from contending for the GIL with the event loop: with a
thread, every numpy/SQLite call that releases the GIL must win it back from the busy loop. The worker loads the
model itself (the threshold is settled once by the parent and handed over), predicts once to warm up, and
commits each batch to the store before returning it.

The process is driven over one duplex pipe, one call at a time, straight from the event loop (the loop waits
for the answer with ``add_reader``): no executor, no feeder or manager thread in the server process, so the
event loop never waits for the GIL behind them (a ``ProcessPoolExecutor`` cost several ms per request that
way on 2 busy cores). When the server dies, even by SIGKILL, the worker sees the pipe close: it finishes and
commits the batch in hand, then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from skutag.errors import ModelLoadError
from skutag.log import get_logger
from skutag.serving.calibration import Calibration
from skutag.serving.tagger import ServedModel, Tagger, load_served_model
from skutag.store import PredictionRecord, TagStore
from skutag.store.checkpoint import Checkpointer

log = get_logger(__name__)

_START_TIMEOUT_S = 600.0
_WARM_UP = {"id": "warm-up", "name": "warm up product", "description": "warm up description"}


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
        _set_threads(served.model, spec.threads)
        self.served = served
        self.tagger = Tagger(served, top_k=spec.top_k)
        self.store = TagStore(spec.db_url, migrate=False) if spec.db_url and spec.store_predictions else None
        # SQLite: WAL checkpoints (an fsync) in a background thread, not inside a request's commit
        self._checkpointer = Checkpointer(self.store.engine) if self.store is not None else None

    def warm_up(self) -> None:
        """One throw-away prediction: lazy set-up (caches, JIT, allocations) happens now, not in a request."""
        self.tagger.tag([dict(_WARM_UP)])

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

    def ping(self) -> str:
        return self.served.version

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self.store is not None:
            self.store.close()


def _set_threads(model: Any, threads: int) -> None:
    """Models that pick their own inference threads (the transformer's ONNX/torch runtime) use the worker's."""
    training = getattr(model, "training", None)
    if isinstance(training, dict) and "num_threads" in training:
        training["num_threads"] = threads


class WorkerHandle(Protocol):
    """What the app calls; each call runs alone (the model need not be thread-safe)."""

    async def process(self, products: list[dict[str, str]], top_k: int | None) -> list[PredictionRecord]: ...

    async def explain(self, product: dict[str, str], path: list[str] | None) -> dict[str, Any]: ...

    async def ping(self) -> str: ...

    def close(self) -> None: ...


class ThreadWorker:
    """The worker on one thread of this process, sharing the already loaded model."""

    def __init__(self, spec: WorkerSpec, served: ServedModel | None) -> None:
        self.local = Worker(spec, served)
        self.local.warm_up()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="skutag-worker")

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def process(self, products: list[dict[str, str]], top_k: int | None) -> list[PredictionRecord]:
        result: list[PredictionRecord] = await self._run(self.local.process, products, top_k)
        return result

    async def explain(self, product: dict[str, str], path: list[str] | None) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(self.local.explain, product, path)
        return result

    async def ping(self) -> str:
        return self.local.ping()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.local.close()


def settle_heap() -> None:
    """Collect once, then move every object alive now (the loaded model, torch, pandas ...) out of the
    collector's sight: a full collection over the half-million objects a transformer process holds takes
    300-500 ms, and it would otherwise stall whatever request triggers it."""
    gc.collect()
    gc.freeze()


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process: load, warm up, say ready, then answer ``(method, args)`` calls until the pipe closes."""
    from threadpoolctl import threadpool_limits

    # batches are small: one BLAS/OpenMP thread each; more only oversubscribe the cores (and spin)
    threadpool_limits(limits=spec.threads)
    try:
        worker = Worker(spec)
        worker.warm_up()
        settle_heap()
    except BaseException as exc:
        conn.send(("err", _portable(exc)))
        return
    conn.send(("ok", worker.served.version))
    try:
        while True:
            try:
                method, args = conn.recv()
            except (EOFError, OSError):
                return  # the server is gone
            try:
                answer: tuple[str, Any] = ("ok", getattr(worker, method)(*args))
            except Exception as exc:
                answer = ("err", _portable(exc))
            try:
                conn.send(answer)
            except OSError:
                return  # the server died while this batch ran: it is committed; nobody to answer
    finally:
        worker.close()


class ProcessWorker:
    """The worker in a spawned process, called over a pipe from the event loop without any helper thread."""

    def __init__(self, spec: WorkerSpec) -> None:
        ctx = get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(target=_worker_main, args=(spec, child), name="skutag-worker", daemon=True)
        self._proc.start()
        child.close()
        self._lock: asyncio.Lock | None = None
        self._stale = 0  # answers owed to calls whose caller was cancelled
        if not self._conn.poll(_START_TIMEOUT_S):
            self.close()
            raise ModelLoadError(f"the inference worker did not start within {_START_TIMEOUT_S:.0f} s")
        self.version: str = self._answer()

    def _answer(self) -> Any:
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"the inference worker died (exit code {self._proc.exitcode})") from None
        if status == "err":
            raise value
        return value

    async def _call(self, method: str, *args: Any) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while self._stale:  # a cancelled call's answer is still due: drop it (rare: shutdown)
                self._stale -= 1
                with contextlib.suppress(Exception):
                    self._answer()
            self._conn.send((method, args))
            try:
                if not self._conn.poll():
                    await self._readable()
            except asyncio.CancelledError:
                self._stale += 1
                raise
            return self._answer()

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = self._conn.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    async def process(self, products: list[dict[str, str]], top_k: int | None) -> list[PredictionRecord]:
        result: list[PredictionRecord] = await self._call("process", products, top_k)
        return result

    async def explain(self, product: dict[str, str], path: list[str] | None) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("explain", product, path)
        return result

    async def ping(self) -> str:
        result: str = await self._call("ping")
        return result

    def close(self) -> None:
        self._conn.close()  # the worker reads EOF, finishes what it holds and exits
        self._proc.join(timeout=30)
        if self._proc.is_alive():
            log.warning("inference worker did not exit; terminating it")
            self._proc.terminate()
            self._proc.join(timeout=5)


def start_worker(spec: WorkerSpec, *, process: bool, served: ServedModel | None = None) -> WorkerHandle:
    """One warmed-up worker: a spawned process (loads its own model copy) or a thread sharing ``served``."""
    if process:
        return ProcessWorker(spec)
    return ThreadWorker(spec, served)


def spec_for(
    model_dir: str | Path, calibration: Calibration, top_k: int, db_url: str | None, store: bool, threads: int = 1
) -> WorkerSpec:
    return WorkerSpec(str(model_dir), calibration.as_dict(), top_k, db_url, store, threads)
