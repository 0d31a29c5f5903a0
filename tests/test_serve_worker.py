"""The inference worker process (pipe from the event loop) and the micro-batcher with a coroutine ``process``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest_store import small_model_dir, validation_rows
from skutag.errors import ModelLoadError, WorkerError
from skutag.serving.batcher import MicroBatcher
from skutag.serving.calibration import Calibration
from skutag.serving.worker import ProcessWorker, spec_for, start_worker
from skutag.store import TagStore


def _spec(tmp_path: Path, model: Path | None = None, store: bool = True):  # type: ignore[no-untyped-def]
    db = f"sqlite:///{tmp_path / 'w.db'}"
    TagStore(db).close()  # the parent migrates; the worker only opens
    cal = Calibration(target=0.98, threshold=0.5, source="fixed")
    return spec_for(model or small_model_dir(), cal, 3, db, store), db


def test_process_worker_tags_stores_survives_errors_and_exits_on_close(tmp_path: Path) -> None:
    spec, db = _spec(tmp_path)
    worker = start_worker(spec, process=True)
    assert isinstance(worker, ProcessWorker)
    products = validation_rows(5)

    async def run() -> tuple[list[str], str, BaseException | None, list[str], dict[str, object]]:
        records = await worker.process(products, 2)
        version = await worker.ping()
        try:
            await worker.process([{"name": "no id"}], None)  # KeyError inside the worker
            err = None
        except WorkerError as exc:  # the KeyError raised in the worker, for this batch alone
            err = exc if "KeyError" in str(exc) else None
        again = await worker.process(products[:2], None)  # still serving after an error
        evidence = await worker.explain(products[0], None)
        return [r.external_id for r in records + again], version, err, [r.path_text for r in records], evidence

    try:
        ids, version, err, paths, evidence = asyncio.run(run())
    finally:
        worker.close()
    assert ids == [p["id"] for p in products] + [p["id"] for p in products[:2]]
    assert version.startswith("linear-") and isinstance(err, WorkerError)
    assert all(paths) and evidence["path"] and evidence["tokens"]
    assert not worker._link.proc.is_alive()  # the closed socket ended it
    with TagStore(db, migrate=False) as store:
        assert store.counts()["predictions"] == 7  # committed by the worker before it answered
        assert store.product(products[0]["id"])["prediction"] is not None


def test_process_worker_reports_a_bad_model_dir(tmp_path: Path) -> None:
    spec, _ = _spec(tmp_path, model=tmp_path / "no-such-model", store=False)
    with pytest.raises(ModelLoadError):
        ProcessWorker(spec)


def test_cancelled_call_does_not_hand_its_answer_to_the_next(tmp_path: Path) -> None:
    spec, _ = _spec(tmp_path, store=False)
    worker = ProcessWorker(spec)
    products = validation_rows(3)

    async def run() -> list[str]:
        first = asyncio.create_task(worker.process(products[:1], None))
        await asyncio.sleep(0)  # sent, not answered yet
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        records = await worker.process(products[1:], None)
        return [r.external_id for r in records]

    try:
        assert asyncio.run(run()) == [p["id"] for p in products[1:]]
    finally:
        worker.close()


def test_microbatcher_awaits_a_coroutine_process_and_batches_what_queued_meanwhile() -> None:
    calls: list[list[int]] = []
    gate = asyncio.Event()

    async def process(items: list[int], options: object) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            await gate.wait()  # the first batch is "running" while others queue
        return [i + 1 for i in items]

    async def run() -> list[list[int]]:
        batcher: MicroBatcher[int, int] = MicroBatcher(process)  # max_wait 0: no holding back
        await batcher.start()
        try:
            first = asyncio.create_task(batcher.submit([0]))
            await asyncio.sleep(0.01)
            rest = [asyncio.create_task(batcher.submit([i])) for i in range(1, 5)]
            await asyncio.sleep(0.01)
            gate.set()
            return [await first] + [await t for t in rest]
        finally:
            await batcher.stop()

    assert asyncio.run(run()) == [[1], [2], [3], [4], [5]]
    assert calls == [[0], [1, 2, 3, 4]]  # the lone first request went at once; the queued ones together


def test_settle_heap_moves_the_live_heap_out_of_the_collectors_sight() -> None:
    import gc

    from skutag.serving.worker import settle_heap

    gc.unfreeze()
    live = len(gc.get_objects())
    try:
        settle_heap()
        assert gc.get_freeze_count() >= live * 0.9  # a later full collection no longer walks them
        assert len(gc.get_objects()) < live * 0.1
    finally:
        gc.unfreeze()


def test_a_hung_worker_fails_its_call_and_the_next_call_gets_a_fresh_one(tmp_path: Path) -> None:
    import os
    import signal

    spec, _ = _spec(tmp_path, store=False)
    worker = start_worker(spec, process=True, timeout_s=2.0)
    assert isinstance(worker, ProcessWorker)
    products = validation_rows(3)

    async def run() -> tuple[str, list[str]]:
        first = worker.pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # alive, never answers
        with pytest.raises(WorkerError, match="did not answer within 2 s") as failed:
            await worker.process(products[:1], None)
        records = await worker.process(products, None)
        assert worker.pid not in (None, first) and worker.restarts == 1
        return str(failed.value), [r.external_id for r in records]

    try:
        _, ids = asyncio.run(run())
    finally:
        worker.close()
    assert ids == [p["id"] for p in products]
