"""Property-based API testing against the OpenAPI schema with every schemathesis check, as ``st run -c all`` does.

Not only "no 5xx": each answer must be documented (status, content type, body schema, headers), a body the
schema allows must be taken (no 422 for it), a body it forbids must be refused, auth must be enforced where it
is declared. The run is schemathesis's own engine (the one behind its CLI) with its examples, coverage
(boundaries, both generation modes) and fuzzing phases; its pytest plugin fails on pytest 9 (``_nodeid``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from conftest_store import ServerThread, small_model_dir, validation_rows
from skutag.serving.app import create_app
from skutag.serving.settings import ServeSettings

KEY = "st-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
SEED = 20240611
MAX_EXAMPLES = 25


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


def all_checks_config() -> SchemathesisConfig:
    """``st run -c all --seed SEED -n MAX_EXAMPLES -w 1 -H 'Authorization: Bearer KEY'``, in code."""
    config = SchemathesisConfig()
    config.update(seed=SEED, max_failures=None)
    project = config.projects.override
    project.update(headers=HEADERS, workers=1, request_timeout=30)
    project.checks.update(included_check_names=["all"])
    project.generation.update(max_examples=MAX_EXAMPLES)
    return config


def run_engine(schema: schemathesis.BaseSchema) -> tuple[set[str], list[str]]:
    """Operations tested and every failure or error of the run, as readable lines."""
    tested: set[str] = set()
    problems: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            tested.add(event.recorder.label)
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.status == Status.FAILURE and node.failure_info is not None:
                        failure = node.failure_info.failure
                        problems.append(
                            f"{failure.operation}: {node.name}: {failure.title}: {failure.message}\n"
                            f"  {node.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: error: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            problems.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            problems.extend(f"{f.operation}: {f.title}: {f.message}" for f in event.failures)
    return tested, problems


def test_api_passes_every_schemathesis_check(server: ServerThread) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=all_checks_config())
    load_all_checks()
    enabled = schema.config.checks_config_for()
    assert all(enabled.get_by_name(name=name).enabled for name in CHECKS.get_all_names())
    tested, problems = run_engine(schema)
    assert not problems, "\n\n".join(problems)
    labels = {r.ok().label for r in schema.get_all_operations()}
    assert {"POST /v1/tag", "GET /v1/review/queue", "POST /v1/review/decisions", "GET /v1/review/evidence"} <= labels
    assert labels <= tested  # every operation really ran
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    calls = sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("skutag_http_requests_total{")
    )
    assert calls >= 10 * len(labels)  # the examples really reached the server
    assert 'status="5' not in metrics
