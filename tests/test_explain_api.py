"""POST /v1/explain in-process: auth like /v1/tag, 4xx for bad input, spans that point into the text as sent."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest_store import validation_rows
from test_serve_api import AUTH, make_client


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(tmp_path_factory.mktemp("explain")) as c:
        yield c


def test_explain_spans_point_into_the_text_sent(client: TestClient) -> None:
    products = validation_rows(3)
    r = client.post("/v1/explain", json={"products": products}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    tagged = client.post("/v1/tag", json={"products": products}, headers=AUTH).json()["results"]
    for product, res, tag in zip(products, body["results"], tagged, strict=True):
        assert res["id"] == product["id"] and res["method"] == "linear"
        assert res["path"] == tag["path"] and abs(res["probability"] - tag["confidence"]) < 1e-4
        assert res["spans"]
        for s in res["spans"]:
            assert product[s["field"]][s["start"] : s["end"]] == s["text"]
        assert max(s["weight"] for s in res["spans"]) > 0


def test_explain_alternative_path_and_occlusion(client: TestClient) -> None:
    product = validation_rows(1)[0]
    tag = client.post("/v1/tag", json={"products": [product]}, headers=AUTH).json()["results"][0]
    other = tag["alternatives"][1]["path"]
    r = client.post("/v1/explain", json={"products": [product], "path": other, "method": "occlusion"}, headers=AUTH)
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    assert res["path"] == other and res["method"] == "occlusion"


def test_explain_erasure(client: TestClient) -> None:
    products = validation_rows(2)
    r = client.post("/v1/explain", json={"products": products, "method": "erasure"}, headers=AUTH)
    assert r.status_code == 200, r.text
    for product, res in zip(products, r.json()["results"], strict=True):
        assert res["method"] == "erasure" and "erased" in res["target"]
        for s in res["spans"]:
            assert product[s["field"]][s["start"] : s["end"]] == s["text"]
        top = max(s["weight"] for s in res["spans"])
        assert 0 < top <= res["probability"] + 1e-6  # the first erased word weighs the whole erasure's loss


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"products": []}, 422),
        ({"products": [{"id": "a", "name": "x"}] * 9}, 422),
        ({"products": [{"id": "a", "name": "red shirt"}], "method": "ig"}, 404),
        ({"products": [{"id": "a", "name": "red shirt"}], "method": "nonsense"}, 422),
        ({"products": [{"id": "a", "name": "red shirt"}], "path": ["No", "Such", "Path"]}, 404),
        ({"products": [{"id": "a", "name": "   "}]}, 422),
        ({"products": [{"id": "a", "name": "red shirt"}], "extra": 1}, 422),
    ],
)
def test_explain_bad_input_is_4xx(client: TestClient, body: dict[str, object], code: int) -> None:
    r = client.post("/v1/explain", json=body, headers=AUTH)
    assert r.status_code == code, r.text


def test_explain_needs_the_api_key(client: TestClient) -> None:
    product = validation_rows(1)[0]
    assert client.post("/v1/explain", json={"products": [product]}).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.post("/v1/explain", json={"products": [product]}, headers=bad).status_code == 401


def test_explain_latency_linear(client: TestClient) -> None:
    """One product a call, p99 well under the 200 ms budget of the linear model (generous here: shared CI)."""
    products = validation_rows(30)
    times = []
    for p in products:
        t0 = time.perf_counter()
        assert client.post("/v1/explain", json={"products": [p]}, headers=AUTH).status_code == 200
        times.append(time.perf_counter() - t0)
    assert float(np.percentile(times, 99)) < 1.0


def test_review_evidence_is_the_explanation(client: TestClient) -> None:
    product = validation_rows(1)[0]
    client.post("/v1/tag", json={"products": [product]}, headers=AUTH)
    r = client.get("/v1/review/evidence", params={"id": product["id"]}, headers=AUTH)
    assert r.status_code == 200, r.text
    ev = r.json()
    assert ev["method"] == "linear" and ev["spans"] and ev["tokens"] and ev["base_score"] == ev["probability"]
