"""The real server, many clients at once: every answer carries exactly its own request's products, on uvloop and
asyncio alike; a worker killed mid-batch fails that batch alone (503) and a fresh worker answers the next.

Before the fix, uvloop left the worker's pipe non-blocking, a large answer read in pieces was taken for a dead
worker, and from then on every request got the previous request's results.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest_store import free_port, small_model_dir, start_server, validation_rows

KEY = "concurrency-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
LIMIT = 256  # the documented batch limit (SKUTAG_MAX_BATCH_PRODUCTS default)
SOAK_S = float(os.environ.get("SKUTAG_SOAK_S", "15"))  # the bug it guards showed within seconds
CLIENTS = 8


def _reference(http: httpx.Client, base: list[dict[str, str]]) -> list[list[str]]:
    """Each base product's path, asked for in batches before the load starts."""
    paths: list[list[str]] = []
    for i in range(0, len(base), LIMIT):
        r = http.post("/v1/tag", json={"products": base[i : i + LIMIT]}, headers=AUTH)
        assert r.status_code == 200, r.text
        paths.extend(x["path"] for x in r.json()["results"])
    return paths


def _batch(base: list[dict[str, str]], client: int, n: int, size: int) -> tuple[list[str], list[int]]:
    picks = [(n * 31 + client * 7 + j) % len(base) for j in range(size)]
    return [f"c{client}-r{n}-{j}" for j in range(size)], picks


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_every_answer_carries_its_own_requests_products(loop: str, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    proc = start_server(
        small_model_dir(), f"sqlite:///{tmp_path / 'db.sqlite'}", port, log, key=KEY, env={"SKUTAG_LOOP": loop}
    )
    url = f"http://127.0.0.1:{port}"
    base = validation_rows(300)
    sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            reference = _reference(http, base)
        end = time.monotonic() + SOAK_S

        def client(c: int) -> None:
            rng = random.Random(c)
            with httpx.Client(base_url=url, timeout=60) as http:
                n = 0
                while time.monotonic() < end:
                    size = 1 if rng.random() < 0.4 else rng.randint(1, LIMIT)  # singles between batches
                    ids, picks = _batch(base, c, n, size)
                    products = [{**base[p], "id": i} for i, p in zip(ids, picks, strict=True)]
                    n += 1
                    r = http.post("/v1/tag", json={"products": products}, headers=AUTH)
                    with lock:
                        sizes.append(size)
                        if r.status_code != 200:
                            errors.append(f"client {c} request {n} ({size} products): {r.status_code} {r.text[:200]}")
                            continue
                        results = r.json()["results"]
                        got = [x["id"] for x in results]
                        if got != ids:
                            errors.append(f"client {c} request {n}: sent {ids[:3]}…, got {got[:3]}…")
                        elif [x["path"] for x in results] != [reference[p] for p in picks]:
                            errors.append(f"client {c} request {n}: ids right, paths of other products")

        threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=SOAK_S + 120)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not errors, f"{len(errors)} of {len(sizes)} requests went wrong, e.g. {errors[:5]}"
    assert len(sizes) >= 50 and max(sizes) >= 200, f"too little load to test anything: {len(sizes)} requests"
    assert "Traceback" not in log.read_text(errors="replace")


def _worker_pid(server: int) -> int:
    """The server's spawned inference worker process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == server and b"spawn_main" in cmdline:
            return int(entry.name)
    raise AssertionError(f"no inference worker under server process {server}")


def test_a_worker_killed_mid_batch_fails_that_batch_alone(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    proc = start_server(small_model_dir(), f"sqlite:///{tmp_path / 'db.sqlite'}", port, log, key=KEY)
    base = validation_rows(60)
    answers: dict[str, httpx.Response] = {}

    def post(name: str, products: list[dict[str, str]]) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            answers[name] = http.post("/v1/tag", json={"products": products}, headers=AUTH)

    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            reference = _reference(http, base)
            worker = _worker_pid(proc.pid)
            os.kill(worker, signal.SIGSTOP)  # the worker holds the next batch without answering it
            held = threading.Thread(target=post, args=("held", [{**p, "id": f"held-{p['id']}"} for p in base[:50]]))
            held.start()
            time.sleep(1.0)  # the held batch is now in the worker's hands
            queued = threading.Thread(target=post, args=("queued", [{**p, "id": f"q-{p['id']}"} for p in base[50:]]))
            queued.start()
            time.sleep(0.5)  # queued behind it in the micro-batcher
            os.kill(worker, signal.SIGKILL)
            held.join(timeout=60)
            queued.join(timeout=120)
            after = http.post("/v1/tag", json={"products": base[:7]}, headers=AUTH)
            ready = http.get("/readyz")
            new_worker = _worker_pid(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    failed = answers["held"]
    assert failed.status_code == 503, failed.text
    assert "inference worker died" in failed.json()["detail"] and "signal 9" in failed.json()["detail"]
    assert failed.headers.get("retry-after") == "1"
    queued_answer = answers["queued"]  # it was waiting, not in the worker: a fresh worker answered it
    assert queued_answer.status_code == 200, queued_answer.text
    assert [x["id"] for x in queued_answer.json()["results"]] == [f"q-{p['id']}" for p in base[50:]]
    assert [x["path"] for x in queued_answer.json()["results"]] == reference[50:]
    assert after.status_code == 200
    assert [x["id"] for x in after.json()["results"]] == [p["id"] for p in base[:7]]
    assert [x["path"] for x in after.json()["results"]] == reference[:7]
    assert ready.status_code == 200 and new_worker != worker
