"""Shared helpers for the store, serving and review tests (imported by them; not a pytest conftest).

- :func:`postgres_url`: a throwaway PostgreSQL cluster (``scripts/ci-services.sh``), started once per test
  process and stopped at exit; None (with a loud warning) only when PostgreSQL cannot be installed.
- :func:`new_database`: a fresh database URL on ``sqlite`` or ``postgresql``.
- :func:`small_model_dir`: a linear model trained once on a slice of MWPD (skips without the shared data).
- :func:`start_server`: ``skutag serve`` in a subprocess, returned once it is ready.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "ci-services.sh"
_cache: dict[str, object] = {}


def shared_data() -> Path:
    return Path(os.environ.get("SKUTAG_SHARED_DATA", ROOT.parent / "shared" / "data"))


def mwpd_lines(split: str, n: int) -> list[str]:
    """The first ``n`` offers (JSON lines) of MWPD ``split`` (train, validation); the test is skipped without it."""
    path = shared_data() / "mwpd2020" / f"{split}.json"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    with path.open(encoding="utf-8") as src:
        return list(itertools.islice(src, n))


def postgres_url() -> str | None:
    """URL of a running throwaway PostgreSQL (started on first use)."""
    if "pg" in _cache:
        return _cache["pg"]  # type: ignore[return-value]
    tmp = Path(tempfile.mkdtemp(prefix="skutag-pg-"))
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), "pg-start", str(tmp)], capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        proc = None
        err = str(exc)
    if proc is None or proc.returncode != 0:
        err = proc.stderr[-2000:] if proc is not None else err
        log = (tmp / "server.log").read_text(errors="replace")[-1000:] if (tmp / "server.log").exists() else ""
        warnings.warn(f"PostgreSQL UNAVAILABLE, its store tests are SKIPPED: {err} {log}", stacklevel=2)
        shutil.rmtree(tmp, ignore_errors=True)
        _cache["pg"] = None
        return None
    url = proc.stdout.strip().splitlines()[-1]
    atexit.register(lambda: subprocess.run(["bash", str(SCRIPT), "pg-stop", str(tmp)], check=False, timeout=120))
    _cache["pg"] = url
    return url


def new_database(backend: str, tmp_path: Path) -> str:
    """A fresh, empty database on ``backend`` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL could not be installed or started (see the warning)")
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def small_model_dir() -> Path:
    """A linear model on 600 MWPD training offers, with 400 validation offers listed in its card."""
    if "model" in _cache:
        return _cache["model"]  # type: ignore[return-value]
    data = shared_data() / "mwpd2020"
    if not (data / "train.json").is_file():
        pytest.skip(f"shared data not found at {data}")
    from skutag.workflows.train import train_model

    tmp = Path(tempfile.mkdtemp(prefix="skutag-serve-model-"))
    atexit.register(shutil.rmtree, tmp, True)
    for name, n in (("train.json", 600), ("validation.json", 400)):
        with (data / name).open(encoding="utf-8") as src, (tmp / name).open("w", encoding="utf-8") as dst:
            dst.writelines(itertools.islice(src, n))
    out = tmp / "model"
    train_model(
        tmp / "train.json",
        text=["Name", "Description"],
        label=["lvl1", "lvl2", "lvl3"],
        valid=tmp / "validation.json",
        out=out,
        rejects=tmp / "rejects.jsonl",
    )
    _cache["model"] = out
    return out


def validation_rows(n: int = 40) -> list[dict[str, str]]:
    """The first ``n`` MWPD validation offers as API products (id, name, description)."""
    path = shared_data() / "mwpd2020" / "validation.json"
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in itertools.islice(fh, n):
            r = json.loads(line)
            rows.append({"id": f"v{r['ID']}", "name": r["Name"] or "", "description": r["Description"] or ""})
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """A real uvicorn server for ``app`` on a free loopback port, in a background thread."""

    def __init__(self, app: object) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        import time

        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_server(
    model: Path, db: str, port: int, log: Path, *, key: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``skutag serve MODEL --db DB --port PORT`` as a user runs it, once ``/readyz`` answers 200."""
    env = {**os.environ, "SKUTAG_API_KEYS": key, "SKUTAG_BATCH_MAX_WAIT_MS": "5", **(env or {})}
    cli = "from skutag.cli.main import app; app(prog_name='skutag')"
    cmd = [sys.executable, "-c", cli, "serve", str(model), "--db", db, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not become ready in 60 s")


def span(text: str, part: str, field: str, **extra: object) -> dict[str, Any]:
    """A tag entry for the first ``part`` in ``text`` (character offsets, as the model writes them)."""
    start = text.index(part)
    return {"value": part, "text": part, "field": field, "start": start, "end": start + len(part), **extra}


def seed_prediction(
    db: str,
    product_id: str,
    fields: dict[str, str],
    tags: Mapping[str, Any],
    *,
    path: list[str] | None = None,
    score: float = 0.01,
) -> None:
    """Store a prediction with ``tags`` for a product (new or not), as a model that extracts attributes would:
    the served test model (linear) extracts none. Needs review, and ``score`` puts it first in the queue."""
    from skutag.store import PredictionRecord, TagStore

    path = path or ["Kitchen", "Kettles"]
    record = PredictionRecord(
        external_id=product_id,
        fields={"id": product_id, **fields},
        path=path,
        level_scores=[score] * len(path),
        path_score=score,
        topk=[{"path": path, "score": score}],
        decision="needs_review",
        threshold=1.0,
        model_version="seeded-1",
        tags=dict(tags),
    )
    with TagStore(db) as store:
        store.record_predictions([record])
