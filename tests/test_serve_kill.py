"""A real server process killed (SIGKILL) mid-batch loses nothing it acknowledged: results are committed first."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from conftest_store import free_port, new_database, small_model_dir, start_server, validation_rows
from skutag.store import TagStore

KEY = "kill-test-key"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_mid_batch_loses_no_acknowledged_prediction(backend: str, tmp_path: Path) -> None:
    model = small_model_dir()
    db = new_database(backend, tmp_path)
    port = free_port()
    proc = start_server(model, db, port, tmp_path / "server.log", key=KEY)
    base = validation_rows(40)
    acked: list[str] = []
    sent: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            n = 0
            while not stop.is_set():
                batch = [{**p, "id": f"w{worker}-{n}-{j}"} for j, p in enumerate(base[(n * 7) % 30 :][:8])]
                n += 1
                with lock:
                    sent.extend(p["id"] for p in batch)
                try:
                    r = http.post("/v1/tag", json={"products": batch}, headers={"Authorization": f"Bearer {KEY}"})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    with lock:
                        acked.extend(x["id"] for x in r.json()["results"])

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(6)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # mid-flight: other requests are queued or being batched
        proc.wait(timeout=10)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        for t in threads:
            t.join(timeout=15)
    acknowledged = list(acked)
    assert len(acknowledged) >= 60, "the server acknowledged too little before the kill to test anything"
    assert len(sent) > len(acknowledged), "no request was in flight at the kill"
    with TagStore(db) as store:
        with store.engine.connect() as conn:
            stored = {r[0] for r in conn.execute(text("SELECT external_id FROM products"))}
            with_pred = conn.execute(
                text("SELECT count(*) FROM products WHERE latest_prediction_id IS NOT NULL")
            ).scalar_one()
            if backend == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        missing = [i for i in acknowledged if i not in stored]
        assert not missing, f"{len(missing)} acknowledged product(s) lost, e.g. {missing[:5]}"
        assert with_pred == len(stored)  # no half-written product
        assert store.product(acknowledged[-1])["prediction"] is not None
