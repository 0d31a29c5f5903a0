"""Load test of ``skutag serve`` with the linear model: locust (headless) at a fixed request rate on loopback.

Full run: 100 requests/s (100 users, one request per second each) for 60 s, one product per request, against a
model trained on all MWPD training offers, predictions written to a SQLite store before each answer.
Target: 0 errors and p99 <= 50 ms on 2 cores. ``quick``: 20 requests/s for 5 s with a small model.
Set ``SKUTAG_BENCH_SERVER_CPUS=0,1`` and ``SKUTAG_BENCH_LOAD_CPUS=2-5`` to pin the server to 2 cores and the
load generator elsewhere (taskset).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks.common import OUT_DIR, SHARED_DATA, markdown_table, save_results

TARGET_P99_MS = 50.0
KEY = "bench-key"

LOCUSTFILE = textwrap.dedent(
    """
    import itertools, json, os, random
    import gevent
    from locust import HttpUser, constant_throughput, task

    PRODUCTS = [json.loads(line) for line in open(os.environ["BENCH_PRODUCTS"], encoding="utf-8")]
    COUNTER = itertools.count()
    HEADERS = {"Authorization": "Bearer %s" % os.environ["BENCH_KEY"]}

    class Tagger(HttpUser):
        wait_time = constant_throughput(1.0)

        def on_start(self):
            # independent clients: spread the users' phases over the second (no lockstep bursts)
            gevent.sleep(random.random())

        @task
        def tag(self):
            n = next(COUNTER)
            p = dict(PRODUCTS[n % len(PRODUCTS)], id="bench-%d" % n)
            self.client.post("/v1/tag", json={"products": [p]}, headers=HEADERS, name="/v1/tag")
    """
)


OPEN_LOOP = textwrap.dedent(
    """
    import asyncio, itertools, json, os, random, sys, time
    import httpx

    url, rate, seconds, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    products = [json.loads(line) for line in open(os.environ["BENCH_PRODUCTS"], encoding="utf-8")]
    headers = {"Authorization": "Bearer %s" % os.environ["BENCH_KEY"]}

    async def main():
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        lat, failures = [], 0
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            async def one(n):
                nonlocal failures
                p = dict(products[n % len(products)], id="open-%d" % n)
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/tag", json={"products": [p]}, headers=headers)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append((time.perf_counter() - t) * 1000)
                failures += not ok
            random.seed(0)
            tasks, start, n = [], time.perf_counter(), 0
            next_at = start
            while next_at - start < seconds:
                next_at += random.expovariate(rate)  # Poisson arrivals: requests do not wait for answers
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                tasks.append(asyncio.create_task(one(n)))
                n += 1
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - start
        lat.sort()
        q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
        json.dump({"requests": len(lat), "failures": failures, "rps": len(lat) / elapsed, "p50_ms": q(0.5),
                   "p95_ms": q(0.95), "p99_ms": q(0.99), "max_ms": lat[-1]}, open(out, "w"))

    asyncio.run(main())
    """
)


def _model(quick: bool, work: Path) -> Path:
    """The linear model to serve (full MWPD train set; cached in bench-out/ between runs)."""
    from skutag.training import train_model

    data = SHARED_DATA / "mwpd2020"
    if quick:
        train = work / "train.json"
        with (data / "train.json").open(encoding="utf-8") as src, train.open("w", encoding="utf-8") as dst:
            dst.writelines(itertools.islice(src, 600))
        out = work / "model"
    else:
        train = data / "train.json"
        out = OUT_DIR / "serve-model"
        if (out / "meta.json").is_file():
            return out
    train_model(
        train,
        text=["Name", "Description"],
        label=["lvl1", "lvl2", "lvl3"],
        valid=data / "validation.json",
        out=out,
        rejects=work / "rejects.jsonl",
    )
    return out


def _products(work: Path) -> Path:
    path = work / "products.jsonl"
    with (SHARED_DATA / "mwpd2020" / "validation.json").open(encoding="utf-8") as src, path.open("w") as dst:
        for line in itertools.islice(src, 2000):
            r = json.loads(line)
            dst.write(json.dumps({"name": r["Name"] or "", "description": r["Description"] or ""}) + "\n")
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError("server not ready")


def _aggregate(prefix: Path) -> dict[str, Any]:
    with Path(f"{prefix}_stats.csv").open(newline="") as fh:
        rows = {r["Name"]: r for r in csv.DictReader(fh)}
    agg = rows["Aggregated"]
    return {
        "requests": int(agg["Request Count"]),
        "failures": int(agg["Failure Count"]),
        "rps": float(agg["Requests/s"]),
        "p50_ms": float(agg["50%"]),
        "p95_ms": float(agg["95%"]),
        "p99_ms": float(agg["99%"]),
        "max_ms": float(agg["Max Response Time"]),
    }


def _pinned(cmd: list[str], env_var: str) -> list[str]:
    """Prefix ``taskset -c CPUS`` when ``env_var`` names CPUs (e.g. server on 0,1 and locust on 2-5)."""
    cpus = os.environ.get(env_var)
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *cmd]
    return cmd


def load_run(
    model_dir: Path, products: Path, work: Path, users: int, seconds: int, loadgen: str = "locust"
) -> dict[str, Any]:
    """Serve ``model_dir`` on loopback and drive it at ``users`` requests/s: ``locust`` (that many users at
    1 request/s each) or ``open-loop`` (an asyncio client sending Poisson arrivals, never waiting for answers)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SKUTAG_API_KEYS": KEY,
        "SKUTAG_MODEL_DIR": str(model_dir),
        "SKUTAG_DB_URL": f"sqlite:///{work / 'bench.db'}",
        "SKUTAG_PORT": str(port),
    }
    serve = "from skutag.serving.app import run_server; from skutag.serving.settings import ServeSettings; "
    serve += "run_server(ServeSettings())"
    server = subprocess.Popen(
        _pinned([sys.executable, "-c", serve], "SKUTAG_BENCH_SERVER_CPUS"),
        env=env,
        stdout=(work / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(url, server)
        lenv = {**os.environ, "BENCH_PRODUCTS": str(products), "BENCH_KEY": KEY}
        if loadgen == "open-loop":
            script, out = work / "open_loop.py", work / "open_loop.json"
            script.write_text(OPEN_LOOP)
            cmd = [sys.executable, str(script), url, str(users), str(seconds), str(out)]
            subprocess.run(
                _pinned(cmd, "SKUTAG_BENCH_LOAD_CPUS"), env=lenv, check=True, timeout=seconds + 120, capture_output=True
            )
            result: dict[str, Any] = json.loads(out.read_text())
        else:
            locustfile = work / "locustfile.py"
            locustfile.write_text(LOCUSTFILE)
            prefix = work / f"locust_{users}"
            cmd = [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(locustfile),
                "--headless",
                "--host",
                url,
                "-u",
                str(users),
                "-r",
                str(users),
                "-t",
                f"{seconds}s",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ]
            subprocess.run(
                _pinned(cmd, "SKUTAG_BENCH_LOAD_CPUS"),
                env=lenv,
                check=False,
                timeout=seconds + 120,
                capture_output=True,
            )
            result = _aggregate(prefix)
        import httpx

        metrics = httpx.get(f"{url}/metrics", timeout=10).text

        def metric(name: str) -> float:
            return next((float(x.split()[-1]) for x in metrics.splitlines() if x.startswith(name + " ")), 0.0)

        result["batches"] = int(metric("skutag_batch_rows_count"))
        result["rows/batch"] = metric("skutag_batch_rows_sum") / max(1.0, result["batches"])
        result["batch ms"] = 1000 * metric("skutag_batch_seconds_sum") / max(1.0, result["batches"])
        result["worker busy"] = metric("skutag_batch_seconds_sum") / seconds
        route = '{route="/v1/tag"}'
        served = metric(f"skutag_http_request_seconds_count{route}")
        result["server mean ms"] = 1000 * metric(f"skutag_http_request_seconds_sum{route}") / max(1.0, served)
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def run(quick: bool = False) -> str:
    users, seconds = (20, 5) if quick else (100, 60)
    rows = []
    with tempfile.TemporaryDirectory(prefix="skutag-bench-serve-") as tmp:
        work = Path(tmp)
        model_dir = _model(quick, work)
        products = _products(work)
        for loadgen in ("locust", "open-loop"):
            (work / loadgen).mkdir()
            result = load_run(model_dir, products, work / loadgen, users, seconds, loadgen)
            rows.append(
                {
                    "load": loadgen,
                    "target req/s": users,
                    "seconds": seconds,
                    **result,
                    "meets target": result["failures"] == 0 and result["p99_ms"] <= TARGET_P99_MS,
                }
            )
    columns = [
        "load",
        "target req/s",
        "seconds",
        "requests",
        "failures",
        "rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "rows/batch",
        "batch ms",
        "worker busy",
        "server mean ms",
        "meets target",
    ]
    table = markdown_table(rows, columns)
    title = "## serve: POST /v1/tag, one product per request (linear model, SQLite store, loopback)"
    lines = [f"{r['load']}: p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, {r['failures']} errors" for r in rows]
    markdown = f"{title}\n\n{table}\n\ntarget: 0 errors, p99 <= {TARGET_P99_MS:.0f} ms\n\n" + "\n".join(lines)
    save_results("serve" + ("-quick" if quick else ""), {"rows": rows, "quick": quick}, markdown)
    return markdown


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
