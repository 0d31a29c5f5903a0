"""Hostile input over the whole API (in-process, real small model): never a 5xx, always a readable answer.

Hypothesis puts lone surrogates, NUL, control characters, non-finite numbers (``NaN``, ``Infinity``, ``1e999``),
oversized text, keys and numbers, and wrong types into every field and key of each request body, and into every
query parameter. Each answer must be below 500, strict JSON (no ``NaN``), and a 4xx must say why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest_store import validation_rows
from skutag.serving.errors import json_safe, safe_error
from test_serve_api import AUTH, make_client

#: Stands for the number literal ``1e999`` (json.dumps cannot write it; Python's parser reads it as inf).
HUGE = "__huge_number__"
RUNS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

surrogate = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
bad_char = surrogate | st.sampled_from(["\x00", "\x1f", "\ufffe", "\uffff"])
hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=20),  # every category: surrogates, NUL, controls
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=5), bad_char, st.text(max_size=5)),
    st.sampled_from(["", " ", "\t\n", "x" * 201, "x" * 50_001, "é" * 60_000]),
)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf, HUGE])
wrong_type = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
hostile_value = st.one_of(hostile_text, non_finite, wrong_type, st.lists(hostile_text | non_finite, max_size=3))


def encode(body: Any) -> bytes:
    """JSON as a hostile client may send it: lone surrogates as ``\\ud800`` escapes, ``NaN``, ``Infinity``."""
    text = json.dumps(body, ensure_ascii=True, allow_nan=True)
    return text.replace(json.dumps(HUGE), "1e999").encode("ascii")


def assert_answered(r: Any) -> None:
    """Below 500, strict JSON, and a 4xx carries a reason."""
    assert r.status_code < 500, r.text
    body = json.loads(r.content, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in the answer"))
    if r.status_code >= 400:
        assert body.get("detail"), r.text


def post(client: TestClient, url: str, body: Any) -> None:
    assert_answered(client.post(url, content=encode(body), headers={**AUTH, "Content-Type": "application/json"}))


# A request body is built from a valid one with a few slots replaced: each slot is a field or a key; they are
# filled in the order listed, the slots that replace a whole product or list last.
Slot = Callable[[dict[str, Any], Any], None]


def _product(body: dict[str, Any]) -> dict[str, Any]:
    product: dict[str, Any] = body["products"][0]
    return product


TAG_SLOTS: dict[str, Slot] = {
    "id": lambda b, v: _product(b).__setitem__("id", v),
    "name": lambda b, v: _product(b).__setitem__("name", v),
    "description": lambda b, v: _product(b).__setitem__("description", v),
    "extra value": lambda b, v: _product(b).__setitem__("brand", v),
    "extra key": lambda b, v: _product(b).__setitem__(v if isinstance(v, str) else str(v), "acme"),
    "model": lambda b, v: b.__setitem__("model", v),
    "top_k": lambda b, v: b.__setitem__("top_k", v),
    "top-level key": lambda b, v: b.__setitem__(v if isinstance(v, str) else str(v), 1),
    "product": lambda b, v: b["products"].__setitem__(0, v),
    "products": lambda b, v: b.__setitem__("products", v),
}
DECISION_SLOTS: dict[str, Slot] = {
    "product_id": lambda b, v: b.__setitem__("product_id", v),
    "action": lambda b, v: b.__setitem__("action", v),
    "path": lambda b, v: b.__setitem__("path", v),
    "path part": lambda b, v: b.__setitem__("path", ["x", v]),
    "tag key": lambda b, v: b.__setitem__("tags", {v if isinstance(v, str) else str(v): "x"}),
    "tag value": lambda b, v: b.__setitem__("tags", {"colour": v}),
    "reviewer": lambda b, v: b.__setitem__("reviewer", v),
    "top-level key": lambda b, v: b.__setitem__(v if isinstance(v, str) else str(v), 1),
}
QUERIES = {
    "/v1/review/queue": ("category", "model_version", "limit", "offset"),
    "/v1/review/taxonomy": ("q", "limit"),
    "/v1/review/product": ("id",),
    "/v1/review/evidence": ("id",),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(tmp_path_factory.mktemp("hostile")) as c:
        r = c.post("/v1/tag", json={"products": validation_rows(3)}, headers=AUTH)
        assert r.status_code == 200
        yield c


@pytest.fixture(scope="module")
def known_id(client: TestClient) -> str:
    return validation_rows(1)[0]["id"]


@RUNS
@given(slots=st.lists(st.sampled_from(sorted(TAG_SLOTS)), min_size=1, max_size=3, unique=True), data=st.data())
def test_tag_never_answers_5xx(client: TestClient, slots: list[str], data: st.DataObject) -> None:
    body: dict[str, Any] = {"products": [{"id": "h1", "name": "red wine", "description": "dry"}], "top_k": 2}
    for slot in sorted(slots, key=list(TAG_SLOTS).index):
        TAG_SLOTS[slot](body, data.draw(hostile_value, label=slot))
    post(client, "/v1/tag", body)


@RUNS
@given(
    action=st.sampled_from(["accept", "correct", "edit_tags"]),
    slots=st.lists(st.sampled_from(sorted(DECISION_SLOTS)), min_size=1, max_size=3, unique=True),
    data=st.data(),
)
def test_review_decisions_never_answer_5xx(
    client: TestClient, known_id: str, action: str, slots: list[str], data: st.DataObject
) -> None:
    body: dict[str, Any] = {"product_id": known_id, "action": action, "reviewer": "ann"}
    if action == "correct":
        body["path"] = ["x"]
    for slot in sorted(slots, key=list(DECISION_SLOTS).index):
        DECISION_SLOTS[slot](body, data.draw(hostile_value, label=slot))
    post(client, "/v1/review/decisions", body)


def query_value(value: Any) -> str:
    """A query value percent-encoded byte for byte: a lone surrogate becomes bytes that are not UTF-8. Cut to
    2,000 characters, over every query limit but within what an HTTP client sends in a URL."""
    text = (value if isinstance(value, str) else json.dumps(value, allow_nan=True))[:2000]
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@RUNS
@given(url=st.sampled_from(sorted(QUERIES)), data=st.data())
def test_queries_never_answer_5xx(client: TestClient, url: str, data: st.DataObject) -> None:
    names = data.draw(st.lists(st.sampled_from(QUERIES[url]), min_size=1, unique=True), label="params")
    query = "&".join(f"{n}={query_value(data.draw(hostile_value, label=n))}" for n in names)
    assert_answered(client.get(f"{url}?{query}", headers=AUTH))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe{}",  # not UTF-8
        b'{"products": [{"id": "a", "name": "\xed\xa0\x80"}]}',  # a surrogate encoded as bytes
        b"[" * 5000 + b"]" * 5000,  # deeper than the parser's recursion limit
        b'{"products": [{"id": "a", "name": "x"}], "top_k": ' + b"9" * 5000 + b"}",  # over int digit limit
        b'{"products": [{"id": "a", "name": "x"}], "top_k": -Infinity}',
        b"",
        b"null",
        b'"\\ud800"',
    ],
)
@pytest.mark.parametrize("url", ["/v1/tag", "/v1/review/decisions"])
def test_unreadable_bodies_get_a_4xx(client: TestClient, url: str, raw: bytes) -> None:
    assert_answered(client.post(url, content=raw, headers={**AUTH, "Content-Type": "application/json"}))


def test_surrogates_and_non_finite_numbers_are_named_in_the_422(client: TestClient) -> None:
    body = {"products": [{"id": "a", "name": "x\ud800", "brand": math.nan}], "top_k": HUGE}
    r = client.post("/v1/tag", content=encode(body), headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422
    errors = {tuple(e["loc"]): e for e in r.json()["detail"]}
    assert errors[("body", "products", 0, "name")]["input"] == "x\\ud800"
    assert errors[("body", "products", 0, "brand")]["input"] == "NaN"
    assert errors[("body", "top_k")]["msg"] == "Input should be a finite number"


def test_a_nul_in_an_extra_field_name_is_refused_not_stored(client: TestClient) -> None:
    r = client.post("/v1/tag", json={"products": [{"id": "nul-key", "name": "x", "br\x00and": "y"}]}, headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "products", 0, "br\x00and"]
    assert client.get("/v1/review/product", params={"id": "nul-key"}, headers=AUTH).status_code == 404


def test_json_safe_echo_is_short_and_strict() -> None:
    deep: Any = "x"
    for _ in range(50):
        deep = [deep]
    echoed = json_safe({"a\udc00": [math.inf, -math.inf, math.nan, 10**100, "y" * 10_000, deep]})
    text = json.dumps(echoed, allow_nan=False)  # would raise on NaN / Infinity
    text.encode("utf-8")  # would raise on a lone surrogate
    assert len(text) < 1_000
    raw = {"type": "t", "loc": ("body", "k\ud800"), "msg": "m", "input": math.nan, "ctx": {"e": ValueError("v")}}
    error = safe_error(raw)
    assert error == {"type": "t", "loc": ["body", "k\\ud800"], "msg": "m", "input": "NaN", "ctx": {"e": "v"}}


def test_ids_are_stripped_after_the_checks(client: TestClient) -> None:
    r = client.post("/v1/tag", json={"products": [{"id": "  spaced  ", "name": "garden hose"}]}, headers=AUTH)
    assert r.status_code == 200 and r.json()["results"][0]["id"] == "spaced"
