"""Tags in the review API and the store: typed entries with spans, a reviewer's span checked against the stored
product (422 when it is not inside it, never a 5xx), ``source: "review"`` on what a person saved, the store
round-tripping spans and decisions (queue, product, review, export in CSV / JSONL / Parquet)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest_store import new_database, seed_prediction, span
from skutag.catalogue.reader import read_catalogue
from skutag.store import TagStore
from skutag.store.export import export_reviews
from test_serve_api import AUTH, make_client

NAME = "\U0001f600 Acme steel kettle 1.7 l"
DESC = "A red kettle."
FIELDS = {"name": NAME, "description": DESC, "brand": "Acme"}
MODEL_TAGS = {
    "Brand": span(NAME, "Acme", "name", confidence=0.93, decision="auto", kind="attribute", source="model"),
    "Colour": span(DESC, "red", "description", confidence=0.4, decision="review", source="model"),
}
XSS = '<script>window.__xss = 1</script><img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(tmp_path_factory.mktemp("review-tags")) as c:
        yield c


@pytest.fixture
def product(client: TestClient, request: pytest.FixtureRequest) -> str:
    """A fresh product with a prediction whose tags have spans, in the client's store."""
    pid = f"p-{request.node.name}"[:100]
    store: TagStore = client.app.state.serving.store  # type: ignore[attr-defined]
    seed_prediction(str(store.engine.url), pid, FIELDS, MODEL_TAGS)
    return pid


def decide(client: TestClient, pid: str, tags: Any, action: str = "edit_tags", **body: Any) -> Any:
    return client.post(
        "/v1/review/decisions", json={"product_id": pid, "action": action, "tags": tags, **body}, headers=AUTH
    )


def stored_review_tags(client: TestClient, pid: str) -> dict[str, Any]:
    return client.get("/v1/review/product", params={"id": pid}, headers=AUTH).json()["review"]["tags"]


def test_prediction_tags_come_out_typed_with_their_spans(client: TestClient, product: str) -> None:
    item = client.get("/v1/review/product", params={"id": product}, headers=AUTH).json()
    assert item["prediction"]["tags"] == MODEL_TAGS and item["review"] is None
    queue = client.get("/v1/review/queue", params={"model_version": "seeded-1"}, headers=AUTH).json()
    listed = next(i for i in queue["items"] if i["id"] == product)
    assert listed["prediction"]["tags"] == MODEL_TAGS and listed["review"] is None
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    entry_ref = {"$ref": "#/components/schemas/TagEntryOut"}
    assert schema["TagResult"]["properties"]["tags"]["additionalProperties"] == entry_ref
    assert set(schema["TagEntryIn"]["properties"]) == {*MODEL_TAGS["Brand"], "kind", "decision", "source"}


def test_a_valid_span_is_stored_with_the_products_text_and_source_review(client: TestClient, product: str) -> None:
    start = NAME.index("steel")  # a code-point offset: the emoji before it counts one
    tags = {
        "Material": {"value": "stainless steel", "field": "name", "start": start, "end": start + 5, "text": "lies"},
        "Brand": {**MODEL_TAGS["Brand"], "source": "model"},
        "Maker": {"value": "Acme", "field": "brand", "start": 0, "end": 4},
        "vegan": {"value": "vegan", "kind": "tag"},
        "Colour": "black",  # a bare value, as clients sent before entries
    }
    r = decide(client, product, tags)
    assert r.status_code == 201, r.text
    expected = {
        "Material": {"value": "stainless steel", "text": "steel", "field": "name", "start": start, "end": start + 5},
        "Brand": {k: v for k, v in MODEL_TAGS["Brand"].items() if k != "source"},
        "Maker": {"value": "Acme", "text": "Acme", "field": "brand", "start": 0, "end": 4},
        "vegan": {"value": "vegan", "kind": "tag"},
        "Colour": {"value": "black"},
    }
    expected = {name: {**entry, "source": "review"} for name, entry in expected.items()}
    assert r.json()["tags"] == expected
    assert stored_review_tags(client, product) == expected
    store: TagStore = client.app.state.serving.store  # type: ignore[attr-defined]
    assert store.product(product)["review"]["tags"] == expected  # the store holds what the API answered
    assert store.audit(product)[0]["after"]["tags"] == expected


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"value": "x", "field": "name", "start": 5, "end": 5}, "start must be below end"),
        ({"value": "x", "field": "name", "start": 9, "end": 3}, "start must be below end"),
        ({"value": "x", "field": "name", "start": 20, "end": 26}, "outside the field's text (25 characters)"),
        ({"value": "x", "field": "description", "start": 0, "end": 500}, "outside the field's text (13 characters)"),
        ({"value": "x", "field": "colour", "start": 0, "end": 1}, "has no such text field"),
        ({"value": "x", "field": "id", "start": 0, "end": 1}, "has no such text field"),
    ],
)
def test_a_span_outside_the_product_is_a_422_naming_the_tag(
    client: TestClient, product: str, entry: dict[str, Any], message: str
) -> None:
    r = decide(client, product, {"Brand": MODEL_TAGS["Brand"], "Bad <tag>": entry})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("tags['Bad <tag>']: span [") and message in detail
    assert client.get("/v1/review/product", params={"id": product}, headers=AUTH).json()["review"] is None


@pytest.mark.parametrize(
    ("entry", "loc", "message"),
    [
        ({"value": "x", "start": 0, "end": 2}, [], "missing field"),
        ({"value": "x", "field": "name", "start": 0}, [], "missing end"),
        ({"value": "x", "field": "name"}, [], "missing start, end"),
        ({"value": "x", "field": "name", "start": -1, "end": 2}, ["start"], "greater than or equal to 0"),
        ({"value": ""}, ["value"], "at least 1 character"),
        ({"value": "  \t"}, ["value"], "match pattern"),
        ({"value": "a\x00b"}, ["value"], "match pattern"),
        ({"value": "x" * 501}, ["value"], "at most 500 characters"),
        ({"value": "x", "confidence": 1.5}, ["confidence"], "less than or equal to 1"),
        ({"value": "x", "decision": "needs_review"}, ["decision"], "'auto' or 'review'"),
        ({"value": "x", "kind": "label"}, ["kind"], "'attribute' or 'tag'"),
        ({"value": "x", "source": "robot"}, ["source"], "'model' or 'review'"),
        ({"value": "x", "colour": "red"}, ["colour"], "Extra inputs are not permitted"),
        ({"field": "name"}, ["value"], "Field required"),
    ],
)
def test_a_malformed_entry_is_a_422_from_the_schema(
    client: TestClient, product: str, entry: dict[str, Any], loc: list[str], message: str
) -> None:
    r = decide(client, product, {"Brand": entry})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "edit_tags", "tags", "Brand", "entry", *loc]
    assert message in error["msg"]


def test_unknown_product_with_a_span_is_a_404(client: TestClient) -> None:
    r = decide(client, "no-such-product", {"Brand": {"value": "x", "field": "name", "start": 0, "end": 1}})
    assert r.status_code == 404 and "no-such-product" in r.json()["detail"]


def test_empty_tags_clear_and_tags_ride_along_with_accept_and_correct(client: TestClient, product: str) -> None:
    r = decide(client, product, {}, action="accept")
    assert r.status_code == 201 and r.json()["tags"] == {}
    r = client.post("/v1/review/decisions", json={"product_id": product, "action": "accept"}, headers=AUTH)
    assert r.status_code == 201 and r.json()["tags"] == MODEL_TAGS  # omitted: the prediction's tags, as they were
    r = decide(client, product, {"Colour": MODEL_TAGS["Colour"]}, action="correct", path=["Kitchen", "Kettles"])
    assert r.status_code == 404  # the path is not in the served model's taxonomy: checked before the tags
    r = decide(client, product, {"Colour": {**MODEL_TAGS["Colour"], "value": "crimson"}})
    assert r.status_code == 201
    assert r.json()["tags"]["Colour"] == {**MODEL_TAGS["Colour"], "value": "crimson", "source": "review"}
    r = client.post("/v1/review/decisions", json={"product_id": product, "action": "edit_tags"}, headers=AUTH)
    assert r.status_code == 201 and r.json()["tags"] == {}


def test_markup_in_tag_names_and_values_is_kept_as_text(client: TestClient, product: str) -> None:
    tags = {XSS: {"value": XSS}, "Brand": {"value": XSS, "field": "name", "start": 2, "end": 6}}
    r = decide(client, product, tags)
    assert r.status_code == 201, r.text
    stored = stored_review_tags(client, product)
    assert stored[XSS] == {"value": XSS, "source": "review"}
    assert stored["Brand"]["value"] == XSS and stored["Brand"]["text"] == "Acme"
    page = client.get("/review")
    assert XSS not in page.text  # the page is static: data only ever arrives as JSON


def test_legacy_and_odd_stored_tags_still_answer_to_the_schema(client: TestClient, product: str) -> None:
    store: TagStore = client.app.state.serving.store  # type: ignore[attr-defined]
    odd = {"colour": "black", "size": 42, "weird": {"value": "w", "start": "3", "confidence": float("inf"), "x": 1}}
    store.review(product, action="edit_tags", reviewer="script", tags=odd)
    r = client.get("/v1/review/product", params={"id": product}, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["review"]["tags"] == {
        "colour": {"value": "black"},
        "size": {"value": "42"},
        "weird": {"value": "w", "x": 1},
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_store_round_trips_spans_and_decisions(backend: str, tmp_path: Path) -> None:
    db = new_database(backend, tmp_path)
    seed_prediction(db, "p1", FIELDS, MODEL_TAGS)
    seed_prediction(db, "p2", {"name": "plain"}, {}, score=0.5)
    reviewed = {
        "Brand": {**MODEL_TAGS["Brand"], "source": "review"},
        "Type": {"value": "Kettle", "text": "kettle", "field": "name", "start": 13, "end": 19, "source": "review"},
    }
    with TagStore(db) as store:
        queue = store.review_queue()
        assert [q["id"] for q in queue] == ["p1", "p2"]
        assert queue[0]["prediction"]["tags"] == MODEL_TAGS and queue[0]["review"] is None
        assert store.review("p1", action="edit_tags", reviewer="ann", tags=reviewed)["tags"] == reviewed
        assert store.product("p1")["review"]["tags"] == reviewed
        assert store.product("p1")["prediction"]["tags"] == MODEL_TAGS
        (label,) = list(store.reviewed_labels())
        assert label["tags"] == reviewed
        # a product re-queued by hand still shows its latest review in the queue
        from skutag.store.tables import Product

        with store.session() as s:
            s.query(Product).filter(Product.external_id == "p1").update({"status": "pending"})
        item = next(q for q in store.review_queue() if q["id"] == "p1")
        assert item["review"]["tags"] == reviewed and item["prediction"]["tags"] == MODEL_TAGS


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_export_writes_the_reviewed_tags_column_in_every_format(suffix: str, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    seed_prediction(db, "p1", FIELDS, MODEL_TAGS)
    seed_prediction(db, "p2", {"name": "plain kettle"}, {})
    reviewed = {
        "Brand": {**MODEL_TAGS["Brand"], "source": "review"},
        "Note": {"value": XSS + ' "quoted", \n new line', "source": "review"},
    }
    with TagStore(db) as store:
        store.review("p1", action="edit_tags", reviewer="ann", tags={"Brand": {"value": "old"}})
        store.review("p1", action="edit_tags", reviewer="ann", tags=reviewed)  # the latest review counts
        store.review("p2", action="accept", reviewer="bob")
    out = tmp_path / f"reviews{suffix}"
    assert export_reviews(db, out) == 2
    frame = read_catalogue(out).set_index("id")
    assert json.loads(frame.loc["p1", "tags"]) == reviewed
    assert json.loads(frame.loc["p2", "tags"]) == {}
    p1 = frame.loc["p1"]
    for entry in reviewed.values():  # each span points into the same row's text column
        if "field" in entry:
            assert p1[entry["field"]][entry["start"] : entry["end"]] == entry["text"]


def test_answers_take_numpy_numbers_in_entries() -> None:
    """A model's entries may hold NumPy numbers: the answer gives plain ones rather than dropping the span."""
    import numpy as np

    from skutag.serving.schemas import TagResult

    entry = {"value": "Acme", "field": "name", "start": np.int64(2), "end": np.int32(6), "confidence": np.float32(0.5)}
    result = TagResult(
        id="a",
        path=[],
        levels=[],
        confidence=0.5,
        alternatives=[],
        tags={"Brand": entry},
        decision="needs_review",
        model_version="m",
    )
    assert json.loads(result.model_dump_json())["tags"] == {
        "Brand": {"value": "Acme", "field": "name", "start": 2, "end": 6, "confidence": 0.5}
    }
