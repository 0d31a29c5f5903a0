"""Micro-batching: concurrent requests are merged into one model call, one call at a time.

Every request hands over its list of items; the batcher takes the first waiting request, then keeps adding
requests until ``max_rows`` items are collected or ``max_wait`` seconds pass, runs ``process`` once on all of
them (awaited when it is a coroutine function, else on a dedicated thread), and gives each request its slice
of the results. Under load the batches grow by themselves (requests queue while the previous batch runs):
exactly what a transformer needs, and it also amortises the linear model's per-call overhead and the store's
one commit per batch. ``max_wait=0`` (the serving default) never holds a lone request back waiting for
company: at low load a request is answered at once, and batching comes only from the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from skutag.log import get_logger

log = get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Job(Generic[T, R]):
    items: list[T]
    options: Any
    future: asyncio.Future[list[R]]


class MicroBatcher(Generic[T, R]):
    """``await submit(items)`` returns ``process(all_items, options)[slice]`` for this request's items.

    Requests are only merged with others that carry equal ``options`` (e.g. the same top-k).
    """

    def __init__(
        self,
        process: Callable[[list[T], Any], list[R]] | Callable[[list[T], Any], Awaitable[list[R]]],
        *,
        executor: Executor | None = None,
        max_rows: int = 512,
        max_wait: float = 0.0,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.process = process
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Job[T, R]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._async = inspect.iscoroutinefunction(process)
        self._own_executor = executor is None and not self._async
        self._executor = executor or (None if self._async else ThreadPoolExecutor(1, thread_name_prefix="skutag-batch"))
        self._held: _Job[T, R] | None = None

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="skutag-microbatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, items: list[T], options: Any = None) -> list[R]:
        if self._queue is None:
            raise RuntimeError("batcher not started")
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(items, options, future))
        return await future

    async def _call(self, items: list[T], options: Any) -> list[R]:
        if self._async:
            return await self.process(items, options)  # type: ignore[misc]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.process, items, options)  # type: ignore[arg-type]

    async def _collect(self) -> list[_Job[T, R]]:
        assert self._queue is not None
        first = self._held or await self._queue.get()
        self._held = None
        jobs = [first]
        rows = len(first.items)
        deadline = time.perf_counter() + self.max_wait
        while rows < self.max_rows:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if job.options != first.options or rows + len(job.items) > self.max_rows:
                self._held = job
                break
            jobs.append(job)
            rows += len(job.items)
        return jobs

    async def _run(self) -> None:
        while True:
            jobs = await self._collect()
            live = [j for j in jobs if not j.future.cancelled()]
            if not live:
                continue
            items = [item for j in live for item in j.items]
            t0 = time.perf_counter()
            try:
                results = await self._call(items, live[0].options)
            except asyncio.CancelledError:
                for j in live:
                    if not j.future.done():
                        j.future.cancel()
                raise
            except Exception as exc:
                log.exception("batch of %d item(s) failed", len(items))
                for j in live:
                    if not j.future.done():
                        j.future.set_exception(exc)
                continue
            if self.on_batch is not None:
                self.on_batch(len(items), time.perf_counter() - t0)
            start = 0
            for j in live:
                part = results[start : start + len(j.items)]
                start += len(j.items)
                if not j.future.done():
                    j.future.set_result(part)
