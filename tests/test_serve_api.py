"""The tagging API in-process (TestClient): answers, decisions, store writes, auth, limits, hostile input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest_store import small_model_dir, validation_rows
from skutag.serving.app import create_app
from skutag.serving.batcher import MicroBatcher
from skutag.serving.calibration import NEVER, threshold_from_card, threshold_from_scores
from skutag.serving.settings import ServeSettings
from skutag.store import TagStore

KEY = "test-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}


def make_client(tmp_path: Path, **settings: object) -> TestClient:
    params: dict[str, object] = {
        "model_dir": small_model_dir(),
        "db_url": f"sqlite:///{tmp_path / 'tags.db'}",
        "api_keys": f"{KEY},other-key",
        "max_batch_products": 50,
        "max_body_bytes": 200_000,
        **settings,
    }
    return TestClient(create_app(ServeSettings(**params)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(tmp_path_factory.mktemp("api")) as c:
        yield c


def test_tag_batch_answers_every_product_and_stores_it_first(client: TestClient) -> None:
    products = validation_rows(20)
    r = client.post("/v1/tag", json={"products": products}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["id"] for x in body["results"]] == [p["id"] for p in products]
    assert body["stored"] is True and body["target_precision"] == 0.98 and body["calibrated"] is True
    assert body["calibration"].startswith("calibrated for precision 0.98: validation file (400 rows)")
    version = body["model_version"]
    assert version.startswith("linear-") and len(version) == len("linear-") + 12
    for res in body["results"]:
        assert 1 <= len(res["path"]) <= 3
        assert [lv["name"] for lv in res["levels"]] == res["path"]
        assert res["alternatives"][0]["path"] == res["path"] and len(res["alternatives"]) == 3
        scores = [a["score"] for a in res["alternatives"]]
        assert scores == sorted(scores, reverse=True) and res["confidence"] == scores[0]
        assert all(0.0 <= lv["score"] <= 1.0 for lv in res["levels"])
        # a path's probability cannot exceed that of any of its prefixes
        assert res["confidence"] <= min(lv["score"] for lv in res["levels"]) + 1e-6
        expected = "auto_accepted" if res["confidence"] >= body["threshold"] else "needs_review"
        assert res["decision"] == expected
        assert res["model_version"] == version
    # answered by the worker process, read back here through the app's own connection
    store: TagStore = client.app.state.serving.store  # type: ignore[attr-defined]
    for res in body["results"]:
        item = store.product(res["id"])
        assert item["prediction"]["path"] == res["path"]
        assert item["prediction"]["decision"] == res["decision"]


def test_models_health_ready_metrics(client: TestClient) -> None:
    models = client.get("/v1/models").json()["models"]
    assert len(models) == 1
    m = models[0]
    assert m["kind"] == "linear" and m["levels"] == ["level_1", "level_2", "level_3"]
    assert m["calibration"]["source"] in ("validation", "card") and m["calibration"]["target"] == 0.98
    if m["threshold"] < 1.0:
        assert m["calibration"]["precision"] >= 0.98
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["detail"]["store"] is True
    client.post("/v1/tag", json={"products": [{"id": "m1", "name": "red wine"}]}, headers=AUTH)
    text = client.get("/metrics").text
    assert 'skutag_http_requests_total{method="POST",route="/v1/tag",status="200"}' in text
    assert "skutag_batch_rows_bucket" in text and "skutag_products_tagged_total" in text
    assert "skutag_ready 1.0" in text
    schema = client.get("/openapi.json").json()
    assert {"/v1/tag", "/v1/models", "/healthz", "/readyz", "/v1/review/queue"} <= set(schema["paths"])


def test_api_keys(client: TestClient) -> None:
    one = {"products": [{"id": "k1", "name": "garden hose"}]}
    r = client.post("/v1/tag", json=one)
    assert r.status_code == 401 and "missing API key" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.post("/v1/tag", json=one, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["detail"] == "invalid API key"
    assert client.post("/v1/tag", json=one, headers={"Authorization": "Bearer other-key"}).status_code == 200
    assert client.get("/v1/review/queue").status_code == 401
    assert client.get("/v1/review/queue", headers=AUTH).status_code == 200


def test_no_keys_means_open_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"), make_client(tmp_path, api_keys="", worker_process=False) as c:
        assert c.post("/v1/tag", json={"products": [{"id": "o1", "name": "tea pot"}]}).status_code == 200
    assert any("no API keys set" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"products": []}, 422, "at least 1"),
        ({"products": [{"name": "no id"}]}, 422, "id"),
        ({"products": [{"id": 5, "name": "x"}]}, 422, "string"),
        ({"products": [{"id": "a", "name": ["list"]}]}, 422, "string"),
        ({"products": [{"id": "a", "name": "x", "brand": {"nested": 1}}]}, 422, "string"),
        ({"products": "nope"}, 422, "list"),
        ({"products": [{"id": "a", "name": "x"}], "top_k": 0}, 422, "greater than or equal to 1"),
        ({"products": [{"id": "a", "name": "x"}], "surprise": 1}, 422, "Extra inputs"),
        ({"products": [{"id": "a", "name": "x"}], "model": "no-such-model"}, 404, "unknown model 'no-such-model'"),
        ({"products": [{"id": "a", "name": "  ", "description": ""}]}, 422, "no text to tag"),
        ({"products": [{"id": "a", "brand": "only a brand"}]}, 422, "no text to tag"),
        ({"products": [{"id": " ", "name": "x"}]}, 422, "String should match pattern"),
        ({"products": [{"id": "a", "name": "x", "b\u0000": "y"}]}, 422, "String should match pattern"),
        ({"products": [{"id": "a", "name": "x", "k" * 201: "y"}]}, 422, "at most 200 characters"),
        ({"products": [{"id": "a", "name": "x"}, {"id": "a", "name": "y"}]}, 409, "duplicate product id"),
        ({"products": [{"id": str(i), "name": "x"} for i in range(51)]}, 422, "too many products in one request: 51"),
    ],
)
def test_hostile_or_wrong_input_gets_a_clear_4xx(client: TestClient, body: object, status: int, message: str) -> None:
    r = client.post("/v1/tag", json=body, headers=AUTH)
    assert r.status_code == status, r.text
    assert message in json.dumps(r.json()["detail"])


def test_malformed_and_huge_bodies(client: TestClient) -> None:
    r = client.post("/v1/tag", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in json.dumps(r.json()["detail"])
    big = {"products": [{"id": "big", "name": "x" * 300_000}]}
    r = client.post("/v1/tag", json=big, headers=AUTH)
    assert r.status_code == 413 and "request body too large" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        yield b'{"products": [{"id": "c", "name": "'
        for _ in range(30):
            yield b"y" * 10_000
        yield b'"}]}'

    r = client.post("/v1/tag", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413


def test_html_in_product_text_is_data(client: TestClient) -> None:
    evil = '<script>alert("x")</script><img src=x onerror="alert(1)">'
    r = client.post("/v1/tag", json={"products": [{"id": "<b>id</b>", "name": evil, "brand": evil}]}, headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    item = client.get("/v1/review/product", params={"id": "<b>id</b>"}, headers=AUTH).json()
    assert item["name"] == evil and item["fields"]["brand"] == evil


def test_fixed_thresholds_drive_the_decision(tmp_path: Path) -> None:
    products = validation_rows(8)
    for threshold, decision in ((0.0, "auto_accepted"), (1.0, "needs_review")):
        with make_client(tmp_path / str(threshold), threshold=threshold, worker_process=False) as c:
            body = c.post("/v1/tag", json={"products": products}, headers=AUTH).json()
            assert body["threshold"] == threshold
            # a fixed threshold is not calibrated: the answer claims no precision
            assert body["calibrated"] is False and body["target_precision"] is None
            assert body["calibration"] == f"fixed threshold {threshold:g} (SKUTAG_THRESHOLD), not calibrated"
            assert {r["decision"] for r in body["results"]} == {decision}
            queue = c.get("/v1/review/queue", headers=AUTH).json()
            assert queue["total"] == (0 if decision == "auto_accepted" else len(products))


def test_threshold_for_target_precision() -> None:
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    right = np.array([1, 1, 1, 0, 1, 0], dtype=bool)
    assert threshold_from_scores(conf, right, 1.0).threshold == 0.9
    got = threshold_from_scores(conf, right, 0.8)
    assert got.threshold == 0.7 and got.coverage == pytest.approx(5 / 6) and got.precision == pytest.approx(0.8)
    assert threshold_from_scores(conf, np.zeros(6, dtype=bool), 0.98).threshold == NEVER
    card = {"validation": {"metrics": {"path": {"thresholds": [{"target": 0.98, "threshold": 0.42, "coverage": 0.5}]}}}}
    found = threshold_from_card(card, 0.98)
    assert found is not None and found.threshold == 0.42 and found.source == "card"
    assert threshold_from_card(card, 0.95) is None


def test_microbatcher_merges_concurrent_requests() -> None:
    calls: list[list[int]] = []

    def process(items: list[int], options: object) -> list[int]:
        calls.append(list(items))
        return [i * 10 for i in items]

    async def run() -> list[list[int]]:
        batcher: MicroBatcher[int, int] = MicroBatcher(process, max_rows=6, max_wait=0.05)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(5)))
        finally:
            await batcher.stop()

    results = asyncio.run(run())
    assert results == [[i * 10, (i + 100) * 10] for i in range(5)]
    assert sum(len(c) for c in calls) == 10
    assert len(calls) < 5 and max(len(c) for c in calls) <= 6


def test_microbatcher_keeps_different_options_apart_and_reports_errors() -> None:
    def process(items: list[int], options: object) -> list[tuple[int, object]]:
        if -1 in items:
            raise ValueError("boom")
        return [(i, options) for i in items]

    async def run() -> tuple[list[object], BaseException | None]:
        batcher: MicroBatcher[int, tuple[int, object]] = MicroBatcher(process, max_rows=100, max_wait=0.02)
        await batcher.start()
        try:
            ok = await asyncio.gather(batcher.submit([1], "a"), batcher.submit([2], "b"))
            try:
                await batcher.submit([-1])
                err = None
            except ValueError as exc:
                err = exc
            return list(ok), err
        finally:
            await batcher.stop()

    ok, err = asyncio.run(run())
    assert ok == [[(1, "a")], [(2, "b")]]
    assert isinstance(err, ValueError)
