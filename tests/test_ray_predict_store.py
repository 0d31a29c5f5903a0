"""`skutag predict --ray --db URL` into the tag store: the products and predictions one-process `predict --db`
stores for the same real MWPD offers (SQLite), and with a worker killed in the middle of the run each row stored
once, no prediction written twice (PostgreSQL, when `scripts/ci-services.sh` can start one).

The Ray cluster is the local one `--ray` starts for a run (two workers of 0.75 CPU); select with ``-m ray``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from conftest_store import new_database
from ray_support import CHUNK, MwpdCase, mwpd_case, skutag

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(600),
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra"),
]

#: every stored fact about a product and its latest prediction (ids and timestamps differ from run to run)
ROWS = text(
    "SELECT p.external_id, p.name, p.description, p.status, pr.path, pr.category, pr.path_score, pr.decision, "
    "pr.model_version, pr.threshold FROM products p JOIN predictions pr ON pr.id = p.latest_prediction_id "
    "ORDER BY p.external_id"
)


def store_rows(url: str) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    from skutag.store import normalise_url

    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(ROWS)]
            counts = {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("products", "predictions", "audit_log")
            }
    finally:
        engine.dispose()
    return rows, counts


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> MwpdCase:
    return mwpd_case(tmp_path_factory.mktemp("ray-store-case"))


@pytest.fixture(scope="module")
def single(case: MwpdCase, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple[Any, ...]], int]:
    """One-process `predict --db` of the same files: the stored rows, and how many rows it stored."""
    from skutag.workflows.predict_store import predict_into_store

    url = f"sqlite:///{tmp_path_factory.mktemp('ray-store-single') / 'single.db'}"
    stats = predict_into_store(case.model, case.files, url, chunksize=CHUNK)
    rows, counts = store_rows(url)
    assert counts["products"] == counts["predictions"] == stats.rows_stored == len(rows)
    return rows, stats.rows_stored


def run_ray(case: MwpdCase, db: str, env: dict[str, str] | None = None) -> str:
    result = skutag(
        "predict", str(case.model), str(case.inputs), "--db", db, "--ray", "--workers", "2",
        "--cpus-per-worker", "0.75", "--chunksize", str(CHUNK), env=env,
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-6000:]}"
    return result.stdout


def test_ray_stores_what_one_process_stores(
    case: MwpdCase, single: tuple[list[tuple[Any, ...]], int], tmp_path: Path
) -> None:
    want, stored = single
    url = new_database("sqlite", tmp_path)
    printed = run_ray(case, url)
    assert f"{stored:,} rows stored" in printed and "2 rejected" in printed  # the broken line, the empty name
    got, counts = store_rows(url)
    assert got == want  # product for product, prediction for prediction
    assert counts == {"products": stored, "predictions": stored, "audit_log": stored}
    assert stored + 2 == case.rows_in  # rows in = rows stored + rows rejected


def test_a_worker_killed_mid_run_stores_each_row_once(
    case: MwpdCase, single: tuple[list[tuple[Any, ...]], int], tmp_path: Path
) -> None:
    want, stored = single
    url = new_database("postgresql", tmp_path)
    marker = tmp_path / "killed"
    # the first worker to reach its 2nd chunk makes its records, then its process exits before answering
    printed = run_ray(case, url, env={"SKUTAG_RAY_FAULT": f"2:{marker}"})
    assert marker.exists()  # the worker did die
    assert f"{stored:,} rows stored" in printed
    got, counts = store_rows(url)
    assert counts == {"products": stored, "predictions": stored, "audit_log": stored}  # nothing written twice
    assert got == want
