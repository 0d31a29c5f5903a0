"""The inference worker: model + store writes, run in a separate process (default) or a thread.

A separate process keeps the model's Python work from contending for the GIL with the event loop: with a
thread, every numpy/SQLite call that releases the GIL must win it back from the busy loop. The worker loads the
model itself (the threshold is settled once by the parent and handed over), predicts once to warm up, and
commits each batch to the store before returning it.

The process is driven over one stream socket straight from the event loop, in id-tagged frames
(``serving.frames``): no executor, no feeder or manager thread in the server process, so the event loop never
waits for the GIL behind them (a ``ProcessPoolExecutor`` cost several ms per request that way on 2 busy cores).
When the server dies, even by SIGKILL, the worker sees the socket close: it finishes and commits the batch in
hand, then exits. When the worker dies or hangs, only the calls it held fail, and the next call starts another.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

from skutag.errors import ModelLoadError, SkutagError, WorkerError
from skutag.log import get_logger
from skutag.models.base import CategoryModel
from skutag.serving import frames
from skutag.serving.calibration import Calibration
from skutag.serving.tagger import ServedModel, Tagger, load_served_model
from skutag.store import PredictionRecord, TagStore
from skutag.store.checkpoint import Checkpointer

log = get_logger(__name__)

_START_TIMEOUT_S = 600.0
_CALLS = frozenset({"process", "explain", "explain_products", "ping"})
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
        if served.bundle is not None:
            served.bundle.set_threads(spec.threads)
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

    def explain(self, product: dict[str, str], path: list[str] | None, tags: bool = False) -> dict[str, Any]:
        return self.tagger.explain(product, path, tags)

    def explain_products(
        self, products: list[dict[str, str]], path: list[str] | None, method: str, tags: bool = False
    ) -> list[dict[str, Any]]:
        return self.tagger.explain_products(products, path, method, tags)

    def ping(self) -> str:
        return self.served.version

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self.store is not None:
            self.store.close()


def _set_threads(model: CategoryModel, threads: int) -> None:
    """Models that pick their own inference threads (a ``num_threads`` hyperparameter: the transformer's ONNX/torch
    runtime, the fast model's encoder) use the worker's."""
    if "num_threads" in model.get_params():
        model.set_params(num_threads=threads)


class WorkerHandle(Protocol):
    """What the app calls; each call runs alone (the model need not be thread-safe)."""

    async def process(self, products: list[dict[str, str]], top_k: int | None) -> list[PredictionRecord]: ...

    async def explain(self, product: dict[str, str], path: list[str] | None, tags: bool = False) -> dict[str, Any]: ...

    async def explain_products(
        self, products: list[dict[str, str]], path: list[str] | None, method: str, tags: bool = False
    ) -> list[dict[str, Any]]: ...

    async def ping(self) -> str: ...

    def close(self) -> None: ...


class ThreadWorker:
    """The worker on one thread of this process, sharing the already loaded model."""

    def __init__(self, spec: WorkerSpec, served: ServedModel | None) -> None:
        self.local = Worker(spec, served)
        self.local.warm_up()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="skutag-worker")

    async def _run(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except Exception as exc:
            raise worker_failure(exc) from exc

    async def process(self, products: list[dict[str, str]], top_k: int | None) -> list[PredictionRecord]:
        result: list[PredictionRecord] = await self._run(self.local.process, products, top_k)
        return result

    async def explain(self, product: dict[str, str], path: list[str] | None, tags: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(self.local.explain, product, path, tags)
        return result

    async def explain_products(
        self, products: list[dict[str, str]], path: list[str] | None, method: str, tags: bool = False
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._run(self.local.explain_products, products, path, method, tags)
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
    return exc if frames.crosses(exc) else RuntimeError(f"{type(exc).__name__}: {exc}")


def _answer(worker: Worker, call_id: int, method: str, args: tuple[Any, ...]) -> bytes:
    """The encoded answer to one call: its result, or the exception it raised (the worker lives on)."""
    try:
        if method not in _CALLS:
            raise ValueError(f"unknown worker call {method!r}")
        return frames.encode((call_id, "ok", getattr(worker, method)(*args)))
    except Exception as exc:
        return frames.encode((call_id, "err", _portable(exc)))


def _worker_main(spec: WorkerSpec, sock: socket.socket) -> None:
    """The worker process: load, warm up, say ready, then answer ``(id, method, args)`` calls until EOF."""
    from threadpoolctl import threadpool_limits

    # batches are small: one BLAS/OpenMP thread each; more only oversubscribe the cores (and spin)
    threadpool_limits(limits=spec.threads)
    sock.setblocking(True)
    try:
        worker = Worker(spec)
        worker.warm_up()
        settle_heap()
    except BaseException as exc:
        with contextlib.suppress(OSError):
            frames.send(sock, (0, "err", _portable(exc)))
        return
    frames.send(sock, (0, "ok", worker.served.version))
    try:
        while True:
            try:
                call_id, method, args = frames.recv(sock)
            except Exception:
                return  # the server is gone (or spoke garbage: it will see us go and start another)
            answer = _answer(worker, call_id, method, args)
            try:
                sock.sendall(answer)
            except OSError:
                return  # the server died while this batch ran: it is committed; nobody to answer
    finally:
        worker.close()


@dataclass
class _Link:
    """One worker process and the socket to it; replaced whole, never repaired, once anything goes wrong."""

    proc: BaseProcess
    sock: socket.socket
    version: str
    loop: asyncio.AbstractEventLoop | None = None
    connected: asyncio.Task[None] | None = None
    writer: asyncio.StreamWriter | None = None
    listener: asyncio.Task[None] | None = None
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    failure: str | None = None


def _halt(proc: BaseProcess) -> None:
    if proc.is_alive():
        proc.kill()
    proc.join(timeout=5)


def _spawn(spec: WorkerSpec) -> _Link:
    """Start a worker process and wait (blocking) until it has loaded the model and warmed up."""
    ctx = get_context("spawn")
    mine, theirs = socket.socketpair()
    proc = ctx.Process(target=_worker_main, args=(spec, theirs), name="skutag-worker", daemon=True)
    try:
        proc.start()
    finally:
        theirs.close()
    mine.settimeout(_START_TIMEOUT_S)
    try:
        _, status, value = frames.recv(mine)
    except TimeoutError:
        _halt(proc)
        mine.close()
        raise ModelLoadError(f"the inference worker did not start within {_START_TIMEOUT_S:.0f} s") from None
    except (EOFError, OSError):
        proc.join(timeout=5)
        mine.close()
        raise ModelLoadError(f"the inference worker died while loading the model ({_exit(proc)})") from None
    mine.settimeout(None)
    if status == "err":
        proc.join(timeout=30)
        mine.close()
        raise value
    return _Link(proc, mine, value)


def _exit(proc: BaseProcess) -> str:
    code = proc.exitcode
    if code is None:
        return "still running"
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def worker_failure(exc: BaseException) -> BaseException:
    """What a caller sees of an exception raised inside the worker: skutag's own errors and the store's errors
    as they are (the routes answer those: 422, 503), anything else as a WorkerError for this batch alone."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SkutagError | SQLAlchemyError):
        return exc
    return WorkerError(f"the inference worker failed on this batch ({type(exc).__name__}: {exc})")


class ProcessWorker:
    """The worker in a spawned process, called over a socket from the event loop without any helper thread.

    Calls carry ids, so an answer reaches only the call that asked for it; one listener task per worker reads
    every answer into the waiting call's future, and drops answers whose caller gave up. Whatever breaks the
    link (the worker dies, does not answer within ``timeout_s``, or sends something unreadable) fails the
    calls it held with a WorkerError (HTTP 503), stops that process, and the next call starts a fresh one.
    """

    def __init__(self, spec: WorkerSpec, *, timeout_s: float | None = None) -> None:
        self._spec = spec
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._respawn: asyncio.Future[_Link] | None = None
        self._closed = False
        self.restarts = 0
        self._link = _spawn(spec)
        self.version: str = self._link.version

    @property
    def pid(self) -> int | None:
        """The current worker process (None once it has failed and no call has started another)."""
        return self._link.proc.pid if self._link.failure is None else None

    async def _live(self) -> _Link:
        """The current link, connected to the running loop; a fresh worker first when the last one failed."""
        async with self._lock:
            if self._closed:
                raise WorkerError("the inference worker is shut down")
            loop = asyncio.get_running_loop()
            link = self._link
            if link.loop is not None and link.loop is not loop:
                self._fail(link, "the inference worker was connected to another event loop")
            if link.failure is not None:
                if self._respawn is None:
                    log.info("starting a new inference worker")
                    self._respawn = loop.run_in_executor(None, _spawn, self._spec)
                try:
                    link = await asyncio.shield(self._respawn)
                except asyncio.CancelledError:
                    raise  # the start goes on; the next call takes it up
                except Exception as exc:
                    raise WorkerError(f"the inference worker could not be restarted: {exc}") from exc
                finally:
                    if self._respawn.done():
                        self._respawn = None
                self._link = link
                self.restarts += 1
            if link.connected is None:
                link.loop = loop
                link.connected = loop.create_task(self._connect(link))
            await asyncio.shield(link.connected)  # a cancelled caller must not abort the connection half-made
            return link

    async def _connect(self, link: _Link) -> None:
        reader, link.writer = await asyncio.open_connection(sock=link.sock)
        link.listener = asyncio.create_task(self._listen(link, reader), name="skutag-worker-listener")

    async def _listen(self, link: _Link, reader: asyncio.StreamReader) -> None:
        """Hand each answer to the call with its id, until the link breaks."""
        try:
            while True:
                call_id, status, value = await frames.read(reader)
                future = link.pending.pop(call_id, None)
                if future is None or future.done():
                    continue  # its caller gave up (cancelled or timed out)
                if status == "ok":
                    future.set_result(value)
                else:
                    future.set_exception(worker_failure(value))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            _halt(link.proc)  # reaped (or stopped, if only its socket broke) so that its exit status is known
            reason = f"the inference worker died ({_exit(link.proc)})"
        except Exception as exc:
            reason = f"the inference worker sent an unreadable answer ({type(exc).__name__}: {exc})"
        self._fail(link, reason)

    def _fail(self, link: _Link, reason: str) -> None:
        """Fail every call the link holds, then stop its process and close its socket (once)."""
        if link.failure is not None:
            return
        link.failure = reason
        if not self._closed:
            log.error("%s; failing the %d call(s) it held and starting a new one", reason, len(link.pending))
        for future in link.pending.values():
            if not future.done():
                future.set_exception(WorkerError(reason))
        link.pending.clear()
        _halt(link.proc)
        with contextlib.suppress(Exception):
            if link.writer is not None:
                link.writer.close()
            else:
                link.sock.close()
        if link.listener is not None and link.listener is not asyncio.current_task():
            link.listener.cancel()

    async def _call(self, method: str, *args: Any) -> Any:
        link = await self._live()
        assert link.writer is not None and link.loop is not None
        call_id = next(self._ids)
        future: asyncio.Future[Any] = link.loop.create_future()
        link.pending[call_id] = future
        try:
            link.writer.write(frames.encode((call_id, method, args)))
            await link.writer.drain()
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:  # before OSError: TimeoutError is one
            self._fail(link, f"the inference worker did not answer within {self.timeout_s:g} s")
            raise WorkerError(link.failure or "the inference worker timed out") from None
        except (ConnectionError, OSError):
            self._fail(link, f"the inference worker died ({_exit(link.proc)})")
            raise WorkerError(link.failure or "the inference worker died") from None
        finally:
            link.pending.pop(call_id, None)

    async def process(self, products: list[dict[str, str]], top_k: int | None) -> list[PredictionRecord]:
        result: list[PredictionRecord] = await self._call("process", products, top_k)
        return result

    async def explain(self, product: dict[str, str], path: list[str] | None, tags: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("explain", product, path, tags)
        return result

    async def explain_products(
        self, products: list[dict[str, str]], path: list[str] | None, method: str, tags: bool = False
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("explain_products", products, path, method, tags)
        return result

    async def ping(self) -> str:
        result: str = await self._call("ping")
        return result

    def close(self) -> None:
        """Shut the socket: the worker reads EOF, finishes and commits what it holds, and exits."""
        self._closed = True
        link = self._link
        with contextlib.suppress(OSError):
            link.sock.shutdown(socket.SHUT_RDWR)
        link.proc.join(timeout=30)
        if link.proc.is_alive():
            log.warning("inference worker did not exit; terminating it")
            link.proc.terminate()
            link.proc.join(timeout=5)
        if link.loop is None or link.loop.is_closed():
            link.sock.close()  # else its transport closes it when the listener sees EOF


def start_worker(
    spec: WorkerSpec, *, process: bool, served: ServedModel | None = None, timeout_s: float | None = None
) -> WorkerHandle:
    """One warmed-up worker: a spawned process (loads its own model copy; restarted when it fails, a call
    that takes over ``timeout_s`` counting as a failure) or a thread sharing ``served``."""
    if process:
        return ProcessWorker(spec, timeout_s=timeout_s)
    return ThreadWorker(spec, served)


def spec_for(
    model_dir: str | Path, calibration: Calibration, top_k: int, db_url: str | None, store: bool, threads: int = 1
) -> WorkerSpec:
    return WorkerSpec(str(model_dir), calibration.as_dict(), top_k, db_url, store, threads)
