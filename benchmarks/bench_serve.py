"""Load test of ``skutag serve`` on loopback with a light open-loop generator (constant arrival rate).

The generator (:func:`open_loop`, raw asyncio HTTP/1.1 keep-alive sockets, one process) sends each request at
its scheduled time whether or not earlier ones were answered, and measures latency from that *intended* send
time, so a stalled server cannot hide its queueing (no coordinated omission). It costs well under 0.1 ms of
CPU per request; locust, which cost more CPU than the server on 2 cores, is not used.

Linear model (full run): 100 requests/s for 60 s, one product per request, model trained on all MWPD training
offers, every prediction committed to a SQLite store before its answer. Target: 0 errors, p99 <= 50 ms.
Transformer (``TransformerModel``, all-MiniLM-L6-v2 encoder, a 50-step fine-tune on MWPD titles: the weights'
quality does not matter for speed), micro-batched: the rate is stepped up, 30 s a step, to find the highest
rate whose p99 stays <= 200 ms with 0 errors (stepping stops after two failed steps in a row). Each server
first gets 5 s of unrecorded load at the first rate.
Categories and tags together: a linear model on WDC-PAVE categories with the attribute extractor (MiniLM, BIO,
192 tokens, a 50-step fine-tune: speed only) in the same model directory, WDC-PAVE test offers (title and
description) as the products, rates stepped 10 to 50 req/s (20 s each) until p99 > 200 ms or an error, once
with the extractor on its ONNX graph (fp32, the default) and once on the int8 copy (``quantize``).
``quick``: a small linear model at 50 requests/s for 5 s; no transformer or extractor (their start alone can take
a minute).

Each row also gives the server's CPU time per request (event loop + worker process), a figure that does not
depend on how busy the machine is. Set ``SKUTAG_BENCH_SERVER_CPUS=0,1`` / ``SKUTAG_BENCH_LOAD_CPUS=2`` to pin
the server and the generator (taskset). ``python -m benchmarks.bench_serve [--quick]
[--stages=linear,transformer,tags]`` runs it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.common import OUT_DIR, SHARED_DATA, markdown_table, save_results

TARGET_P99_MS = 50.0
TRANSFORMER_P99_MS = 200.0
KEY = "bench-key"
TRANSFORMER_RATES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 100, 120, 150, 200)
WARM_UP_S = 5
TAGS_RATES = (20, 30, 40, 50)


# ---- the load generator ---------------------------------------------------------------------------------
def _request_bytes(products: list[dict[str, str]], host: str, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        body = json.dumps({"products": [dict(products[i % len(products)], id=f"load-{i}")]}).encode()
        head = (
            f"POST /v1/tag HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request on a keep-alive connection and read the whole answer; its status code."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return int(head[9:12])


async def _open_loop(
    url: str, rate: float, seconds: float, products: list[dict[str, str]], poisson: bool
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    n_total = max(1, int(rate * seconds))
    requests = _request_bytes(products, parts.netloc, n_total)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def connection(fresh: bool) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], bool]:
        while idle and not fresh:
            conn = idle.pop()
            if not conn[0].at_eof():
                return conn, True
            conn[1].close()  # closed by the server while idle (keep-alive timeout)
        return await asyncio.open_connection(host, port), False

    async def one(i: int, intended: float) -> None:
        for attempt in (1, 2):
            conn, reused = await connection(fresh=attempt == 2)
            try:
                status = await _exchange(*conn, requests[i])
            except (OSError, asyncio.IncompleteReadError) as exc:
                conn[1].close()
                partial = getattr(exc, "partial", b"x")
                if attempt == 1 and reused and not partial:
                    continue  # the server had closed this idle keep-alive connection: retry on a new one
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                break
            idle.append(conn)
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
            break
        latencies.append((time.perf_counter() - intended) * 1000.0)

    rnd = random.Random(0)
    tasks = []
    start = time.perf_counter()
    at = start
    for i in range(n_total):
        at += rnd.expovariate(rate) if poisson else 1.0 / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, at)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for _, writer in idle:
        writer.close()
    latencies.sort()

    def q(f: float) -> float:
        return latencies[min(len(latencies) - 1, int(f * len(latencies)))]

    return {
        "requests": len(latencies),
        "failures": sum(errors.values()),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": q(0.50),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "max_ms": latencies[-1],
    }


def open_loop(url: str, rate: float, seconds: float, products: Path, poisson: bool = False) -> dict[str, Any]:
    """Drive POST /v1/tag at ``rate`` requests/s (constant, or Poisson arrivals) for ``seconds``; one product each.

    Latency counts from each request's scheduled send time. Failures: non-200 answers and broken connections.
    """
    items = [json.loads(line) for line in products.open(encoding="utf-8")]
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    return asyncio.run(_open_loop(url, rate, seconds, items, poisson))


def _loadgen_cli() -> None:
    """``python -c 'from benchmarks.bench_serve import _loadgen_cli; _loadgen_cli()' URL RATE SECONDS PRODUCTS OUT``"""
    url, rate, seconds, products, out = sys.argv[1:6]
    result = open_loop(url, float(rate), float(seconds), Path(products))
    Path(out).write_text(json.dumps(result))


# ---- models and data ------------------------------------------------------------------------------------
def _slice(src: Path, dst: Path, n: int) -> Path:
    with src.open(encoding="utf-8") as fin, dst.open("w", encoding="utf-8") as fout:
        fout.writelines(itertools.islice(fin, n))
    return dst


def _linear_model(quick: bool, work: Path) -> Path:
    """The linear model to serve (full MWPD train set; cached in bench-out/ between runs)."""
    from skutag.workflows.train import train_model

    data = SHARED_DATA / "mwpd2020"
    valid = data / "validation.json"
    if quick:
        train, out = _slice(data / "train.json", work / "train.json", 600), work / "linear-model"
        valid = _slice(valid, work / "valid.json", 200)
    else:
        train, out = data / "train.json", OUT_DIR / "serve-model"
        if (out / "meta.json").is_file():
            return out
    train_model(
        train,
        text=["Name", "Description"],
        label=["lvl1", "lvl2", "lvl3"],
        valid=valid,
        out=out,
        rejects=work / "rejects.jsonl",
    )
    return out


def _transformer_model(work: Path) -> Path:
    """A TransformerModel (default encoder) fine-tuned for 50 steps on 2,000 MWPD titles, cached in bench-out/."""
    from skutag.workflows.train import train_model

    data = SHARED_DATA / "mwpd2020"
    out = OUT_DIR / "serve-transformer"
    if (out / "meta.json").is_file():
        return out
    n_train, n_valid, steps = 2000, 300, 50
    train_model(
        _slice(data / "train.json", work / "tr-train.json", n_train),
        text=["Name"],
        label=["lvl1", "lvl2", "lvl3"],
        model="transformer",
        params={"fields": "title", "epochs": 1, "max_steps": steps, "progress_bar": False, "num_threads": 1},
        valid=_slice(data / "validation.json", work / "tr-valid.json", n_valid),
        out=out,
        rejects=work / "tr-rejects.jsonl",
    )
    return out


def _tags_model(work: Path, quantize: bool) -> Path:
    """Linear on WDC-PAVE categories + the attribute extractor (50 fine-tuning steps) in one directory, cached;
    ``quantize``: the extractor runs its int8 graph."""
    from skutag.models.neural.onnx import ONNX_FILE
    from skutag.workflows.train import train_model
    from skutag.workflows.train_parts import train_attributes

    data = SHARED_DATA / "wdc-pave" / "raw"
    out = OUT_DIR / ("serve-tags-int8" if quantize else "serve-tags")
    if (out / "meta.json").is_file() and (out / "attributes" / "model" / ONNX_FILE).is_file():
        return out
    train_model(
        data / "train_large.jsonl", text=["input_title", "input_description"], label=["category"], out=out,
        rejects=work / "tags-rejects.jsonl",
    )  # fmt: skip
    params = {"epochs": 1, "max_steps": 50, "progress_bar": False, "num_threads": 1, "quantize": quantize}
    train_attributes(data / "train_large.jsonl", out=out, params=params, rejects=work / "tags-rejects2.jsonl")
    return out


def _pave_products(work: Path) -> Path:
    path = work / "pave-products.jsonl"
    with (SHARED_DATA / "wdc-pave" / "raw" / "test.jsonl").open(encoding="utf-8") as src, path.open("w") as dst:
        for line in src:
            r = json.loads(line)
            dst.write(json.dumps({"name": r["input_title"] or "", "description": r["input_description"] or ""}) + "\n")
    return path


def _products(work: Path) -> Path:
    path = work / "products.jsonl"
    with (SHARED_DATA / "mwpd2020" / "validation.json").open(encoding="utf-8") as src, path.open("w") as dst:
        for line in itertools.islice(src, 2000):
            r = json.loads(line)
            dst.write(json.dumps({"name": r["Name"] or "", "description": r["Description"] or ""}) + "\n")
    return path


# ---- the server -----------------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.25)
    raise RuntimeError("server not ready")


def _pinned(cmd: list[str], env_var: str) -> list[str]:
    """Prefix ``taskset -c CPUS`` when ``env_var`` names CPUs (e.g. server on 0,1 and the generator on 2)."""
    cpus = os.environ.get(env_var)
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *cmd]
    return cmd


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its live children (the worker process)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):  # children of every thread (the worker is started from a pool thread)
        pids += [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@contextlib.contextmanager
def serving(model_dir: Path, work: Path, **settings: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``skutag serve`` (uvicorn, one process, plus its model worker) on a free loopback port, SQLite store."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SKUTAG_API_KEYS": KEY,
        "SKUTAG_MODEL_DIR": str(model_dir),
        "SKUTAG_DB_URL": f"sqlite:///{work / 'bench.db'}",
        "SKUTAG_PORT": str(port),
        **{f"SKUTAG_{k.upper()}": v for k, v in settings.items()},
    }
    serve = "from skutag.serving.app import run_server; from skutag.serving.settings import ServeSettings; "
    serve += "run_server(ServeSettings())"
    with (work / "server.log").open("ab") as log:
        server = subprocess.Popen(
            _pinned([sys.executable, "-c", serve], "SKUTAG_BENCH_SERVER_CPUS"), env=env, stdout=log, stderr=log
        )
    try:
        _wait_ready(url, server)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _metrics(url: str) -> dict[str, float]:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def load_run(
    url: str, server: subprocess.Popen[bytes], products: Path, work: Path, rate: float, seconds: float
) -> dict[str, Any]:
    """One open-loop run against a running server: latency, errors, batching and server CPU per request."""
    before, cpu0 = _metrics(url), _cpu_seconds(server.pid)
    load0 = os.getloadavg()[0]
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"load-{rate:g}.json"
    cmd = [sys.executable, "-c", "from benchmarks.bench_serve import _loadgen_cli; _loadgen_cli()"]
    cmd += [url, str(rate), str(seconds), str(products), str(out)]
    subprocess.run(
        _pinned(cmd, "SKUTAG_BENCH_LOAD_CPUS"), check=True, timeout=seconds + 300, cwd=Path(__file__).parents[1]
    )
    result: dict[str, Any] = json.loads(out.read_text())
    cpu = _cpu_seconds(server.pid) - cpu0
    after = _metrics(url)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("skutag_batch_rows_count")
    result["rows/batch"] = delta("skutag_batch_rows_sum") / max(1.0, batches)
    result["batch ms"] = 1000 * delta("skutag_batch_seconds_sum") / max(1.0, batches)
    result["worker busy"] = delta("skutag_batch_seconds_sum") / seconds
    result["server cpu ms/req"] = 1000 * cpu / max(1, result["requests"])
    result["load avg"] = round((load0 + os.getloadavg()[0]) / 2, 2)
    return result


# ---- the benchmark --------------------------------------------------------------------------------------
COLUMNS = [
    "model",
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
    "server cpu ms/req",
    "load avg",
    "meets target",
]


def _warm_up(url: str, server: subprocess.Popen[bytes], products: Path, work: Path, rate: float, quick: bool) -> None:
    """A few unrecorded seconds of load first: the figures are for a running server, not its first requests."""
    load_run(url, server, products, work / "warm-up", rate, 1 if quick else WARM_UP_S)


def _linear(quick: bool, work: Path, products: Path) -> list[dict[str, Any]]:
    rate, seconds = (50, 5) if quick else (100, 60)
    model = _linear_model(quick, work)
    with serving(model, work, threshold="0.9") as (url, server):  # a fixed threshold: no calibration at start
        _warm_up(url, server, products, work, rate, quick)
        result = load_run(url, server, products, work, rate, seconds)
    ok = result["failures"] == 0 and result["p99_ms"] <= TARGET_P99_MS
    return [{"model": "linear", "target req/s": rate, "seconds": seconds, **result, "meets target": ok}]


def _transformer(quick: bool, work: Path, products: Path) -> list[dict[str, Any]]:
    if quick:
        return []  # loading torch twice (server and worker) alone takes 20-60 s on 2 cores
    rates, seconds = TRANSFORMER_RATES, 30
    model = _transformer_model(work)
    rows: list[dict[str, Any]] = []
    with serving(model, work, threshold="0.9", worker_threads="1") as (url, server):
        _warm_up(url, server, products, work, rates[0], quick)
        for rate in rates:
            result = load_run(url, server, products, work, rate, seconds)
            ok = result["failures"] == 0 and result["p99_ms"] <= TRANSFORMER_P99_MS
            rows.append(
                {"model": "transformer", "target req/s": rate, "seconds": seconds, **result, "meets target": ok}
            )
            overloaded = result["rps"] < 0.9 * rate or result["p99_ms"] > 10 * TRANSFORMER_P99_MS
            if overloaded or (len(rows) >= 2 and not ok and not rows[-2]["meets target"]):
                break  # past saturation, or two failed steps in a row (one can be a noisy neighbour)
            time.sleep(2)
    return rows


def _tags(quick: bool, work: Path) -> list[dict[str, Any]]:
    """Per extractor runtime (ONNX fp32, the default; int8), rates stepped up (20 s each) to the highest with 0
    errors and p99 <= 200 ms, up to the 50 req/s target."""
    if quick:
        return []
    seconds = 20
    products = _pave_products(work)
    rows: list[dict[str, Any]] = []
    # int8 on one worker thread: as fast per call as two (measured) and leaves a core to the event loop
    for quantize, threads in ((False, "2"), (True, "1")):
        model = _tags_model(work, quantize)
        name = f"linear + extractor ({'int8' if quantize else 'fp32'} ONNX, {threads} thread{'s' * (threads != '1')})"
        with serving(model, work, threshold="0.9", worker_threads=threads) as (url, server):
            _warm_up(url, server, products, work, TAGS_RATES[0], quick)
            for rate in TAGS_RATES:  # every rate, up to the 50 req/s of the target, even past saturation
                result = load_run(url, server, products, work, rate, seconds)
                ok = result["failures"] == 0 and result["p99_ms"] <= TRANSFORMER_P99_MS
                rows.append({"model": name, "target req/s": rate, "seconds": seconds, **result, "meets target": ok})
                time.sleep(2)
    return rows


def run(quick: bool = False, stages: tuple[str, ...] = ("linear", "transformer", "tags")) -> str:
    with tempfile.TemporaryDirectory(prefix="skutag-bench-serve-") as tmp:
        work = Path(tmp)
        products = _products(work)
        for sub in ("linear", "transformer", "tags"):
            (work / sub).mkdir()
        linear = _linear(quick, work / "linear", products) if "linear" in stages else []
        transformer = _transformer(quick, work / "transformer", products) if "transformer" in stages else []
        tags = _tags(quick, work / "tags") if "tags" in stages else []
    best = max((r["target req/s"] for r in transformer if r["meets target"]), default=None)
    failed = [r["target req/s"] for r in transformer if not r["meets target"] and r["target req/s"] < (best or 0)]
    title = "## serve: POST /v1/tag, one product per request, open-loop load on loopback, SQLite store"
    lines = []
    for lin in linear:
        lines.append(
            f"linear at {lin['target req/s']} req/s for {lin['seconds']} s: p50 {lin['p50_ms']:.1f} ms, p99 "
            f"{lin['p99_ms']:.1f} ms, {lin['failures']} errors (target: 0 errors, p99 <= {TARGET_P99_MS:.0f} ms)"
        )
    if transformer:
        lines.append(
            f"transformer (micro-batched): highest rate with 0 errors and p99 <= {TRANSFORMER_P99_MS:.0f} ms: "
            + (f"{best} req/s" if best is not None else f"none of {[r['target req/s'] for r in transformer]}")
            + (f" (lower rates that missed it: {failed})" if failed else "")
        )
    for t in tags:
        lines.append(
            f"categories and tags ({t['model']}) at {t['target req/s']} req/s: p50 {t['p50_ms']:.1f} ms, p99 "
            f"{t['p99_ms']:.1f} ms, {t['failures']} errors (target: p99 <= {TRANSFORMER_P99_MS:.0f} ms)"
        )
    sections = [("linear model", linear), ("transformer, rate steps", transformer), ("categories and tags", tags)]
    markdown = (
        f"{title}\n\n"
        + "\n\n".join(
            f"### {name}\n\n" + (markdown_table(rows, COLUMNS) if rows else "(full run only)")
            for name, rows in sections
        )
        + "\n\n"
        + "\n".join(lines)
    )
    save_results(
        "serve" + ("-quick" if quick else "") + ("" if len(stages) == 3 else "-" + "-".join(stages)),
        {"linear": linear, "transformer": transformer, "transformer_best_rps": best, "tags": tags, "quick": quick},
        markdown,
    )
    return markdown


if __name__ == "__main__":
    chosen = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--stages=")), "linear,transformer,tags")
    print(run(quick="--quick" in sys.argv, stages=tuple(chosen.split(","))))
