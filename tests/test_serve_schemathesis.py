"""Property-based API testing against the OpenAPI schema: no input the schema allows (or breaks) causes a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from conftest_store import ServerThread, small_model_dir, validation_rows
from skutag.serving.app import create_app
from skutag.serving.settings import ServeSettings

KEY = "st-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    db = tmp_path_factory.mktemp("st") / "tags.db"
    app = create_app(
        ServeSettings(model_dir=small_model_dir(), db_url=f"sqlite:///{db}", api_keys=KEY, max_batch_products=20)
    )
    with ServerThread(app) as srv:
        # some products in the queue so that review operations reach the store
        r = httpx.post(f"{srv.url}/v1/tag", json={"products": validation_rows(10)}, headers=HEADERS, timeout=30)
        assert r.status_code == 200
        yield srv


@pytest.fixture(scope="module")
def api_schema(server: ServerThread) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_no_server_errors(api_schema: schemathesis.BaseSchema, server: ServerThread) -> None:
    operations = [r.ok() for r in api_schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"POST /v1/tag", "GET /v1/review/queue", "POST /v1/review/decisions"} <= labels
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=HEADERS, checks=[not_a_server_error], timeout=30)

        check()
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    calls = sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("skutag_http_requests_total{")
    )
    assert calls >= 2 * len(operations)  # the examples really reached the server
    assert 'status="5' not in metrics
