"""Tag store on SQLite and on a real PostgreSQL: migrations, predictions, queue, reviews, audit, export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import inspect, text

from conftest_store import new_database
from skutag.errors import ConfigError, EmptyInputError
from skutag.store import NotFoundError, PredictionRecord, TagStore, normalise_url
from skutag.store.export import export_reviews

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TagStore:
    s = TagStore(new_database(request.param, tmp_path))
    yield s
    s.close()


def rec(pid: str, path: list[str], score: float, decision: str = "needs_review", version: str = "v1", **fields: str):
    return PredictionRecord(
        external_id=pid,
        fields={"name": fields.get("name", f"product {pid}"), "description": fields.get("description", "")},
        path=path,
        level_scores=[round(score + 0.1, 3)] * len(path),
        path_score=score,
        topk=[{"path": path, "score": score}, {"path": ["Other", "X"], "score": 1 - score}],
        decision=decision,
        threshold=0.9,
        model_version=version,
    )


def test_migration_creates_the_tables_and_is_idempotent(store: TagStore) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"products", "predictions", "reviews", "audit_log", "alembic_version"} <= tables
    TagStore(store.engine.url, engine=store.engine)  # running the migrations again changes nothing
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0001"


def test_queue_holds_needs_review_most_uncertain_first_with_filters(store: TagStore) -> None:
    ids = store.record_predictions(
        [
            rec("a", ["Food", "Fruit"], 0.7),
            rec("b", ["Toys", "Dolls"], 0.2, version="v2"),
            rec("c", ["Food", "Bread"], 0.95, decision="auto_accepted"),
            rec("d", ["Food", "Fruit"], 0.4),
        ]
    )
    assert len(ids) == 4
    queue = store.review_queue()
    assert [q["id"] for q in queue] == ["b", "d", "a"]
    assert store.queue_size() == 3
    assert [q["id"] for q in store.review_queue(category="Food")] == ["d", "a"]
    assert [q["id"] for q in store.review_queue(model_version="v2")] == ["b"]
    assert store.queue_size(category="Food", model_version="v2") == 0
    assert store.facets() == {"categories": ["Food", "Toys"], "model_versions": ["v1", "v2"]}
    first = queue[0]["prediction"]
    assert first["path"] == ["Toys", "Dolls"] and first["topk"][1]["path"] == ["Other", "X"]
    assert store.counts()["status_auto"] == 1


def test_repredicting_upserts_the_product_and_moves_it_through_the_queue(store: TagStore) -> None:
    store.record_predictions([rec("a", ["Food"], 0.3, name="old name")])
    store.record_predictions([rec("a", ["Food"], 0.99, decision="auto_accepted", name="new name")])
    assert store.queue_size() == 0
    item = store.product("a")
    assert item["name"] == "new name" and item["status"] == "auto"
    assert store.counts() == {
        "products": 1,
        "status_pending": 0,
        "status_auto": 1,
        "status_reviewed": 0,
        "predictions": 2,
        "reviews": 0,
    }


def test_reviews_accept_correct_and_edit_tags_with_audit_trail(store: TagStore) -> None:
    store.record_predictions([rec("a", ["Food", "Fruit"], 0.5), rec("b", ["Toys"], 0.4), rec("c", ["Food"], 0.3)])
    r1 = store.review("a", action="accept", reviewer="ann")
    assert r1["path"] == ["Food", "Fruit"] and r1["predicted_path"] == ["Food", "Fruit"]
    r2 = store.review("b", action="correct", reviewer="bob", path=["Food", "Bread"])
    assert r2["path"] == ["Food", "Bread"]
    r3 = store.review("b", action="edit_tags", reviewer="bob", tags={"colour": "red"})
    assert r3["path"] == ["Food", "Bread"] and r3["tags"] == {"colour": "red"}
    assert [q["id"] for q in store.review_queue()] == ["c"]
    assert store.product("b")["review"]["tags"] == {"colour": "red"}
    audit = store.audit("b")
    assert [a["action"] for a in audit] == ["review:edit_tags", "review:correct", "predict"]
    assert audit[1]["actor"] == "bob"
    assert audit[1]["before"]["path"] == "Toys" and audit[1]["after"]["path"] == "Food > Bread"
    rates = {r["category"]: r for r in store.acceptance_rates()}
    assert rates["Food"] == {"category": "Food", "reviewed": 1, "accepted": 1, "rate": 1.0}
    assert rates["Toys"]["accepted"] == 0 and rates["Toys"]["rate"] == 0.0
    # a reviewed product keeps its human label when the nightly job predicts it again
    store.record_predictions([rec("b", ["Toys"], 0.1)])
    assert store.product("b")["status"] == "reviewed"
    assert "b" not in [q["id"] for q in store.review_queue()]


def test_review_errors_are_clear(store: TagStore) -> None:
    store.record_predictions([rec("a", ["Food"], 0.5)])
    with pytest.raises(NotFoundError, match="no product with id 'zz'"):
        store.review("zz", action="accept", reviewer="x")
    with pytest.raises(ConfigError, match="unknown review action"):
        store.review("a", action="delete", reviewer="x")
    with pytest.raises(ConfigError, match="needs the new path"):
        store.review("a", action="correct", reviewer="x")


def test_batch_write_is_atomic(store: TagStore) -> None:
    bad = rec("b", ["Food"], 0.5)
    bad.model_version = "v" * 500  # longer than the column allows on PostgreSQL; SQLite does not check
    if store.engine.dialect.name == "sqlite":
        bad.path_score = float("nan")  # accepted, but NaN in a JSON list is rejected
        bad.level_scores = [object()]  # type: ignore[list-item]
    with pytest.raises(Exception):  # noqa: B017
        store.record_predictions([rec("a", ["Food"], 0.5), bad])
    assert store.counts()["products"] == 0 and store.counts()["predictions"] == 0


def test_text_is_stored_verbatim(store: TagStore) -> None:
    hostile = "<script>alert('x')</script> <img src=x onerror=alert(1)> ☃ \u200b 'quote\" ; DROP TABLE products;--"
    store.record_predictions([rec("x", ["Food"], 0.5, name=hostile, description=hostile)])
    item = store.product("x")
    assert item["name"] == hostile and item["fields"]["description"] == hostile


def test_export_reviews_writes_training_data(store: TagStore, tmp_path: Path) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    with pytest.raises(EmptyInputError, match="no reviewed products"):
        export_reviews(url, tmp_path / "none.csv")
    store.record_predictions(
        [rec("a", ["Food", "Fruit"], 0.5, name="apple"), rec("b", ["Toys"], 0.4, name="doll"), rec("c", ["Food"], 0.3)]
    )
    store.review("a", action="accept", reviewer="ann")
    store.review("b", action="correct", reviewer="bob", path=["Toys", "Dolls"])
    store.review("b", action="edit_tags", reviewer="bob", tags={"material": "cloth"})
    out = tmp_path / "reviewed.csv"
    assert export_reviews(url, out) == 2
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert df["id"].tolist() == ["a", "b"]
    assert df["name"].tolist() == ["apple", "doll"]
    assert df["level_1"].tolist() == ["Food", "Toys"] and df["level_2"].tolist() == ["Fruit", "Dolls"]
    assert df["path"].tolist() == ["Food > Fruit", "Toys > Dolls"]
    assert df["tags"].tolist() == ["{}", '{"material": "cloth"}']


def test_urls() -> None:
    assert normalise_url("x/y.db").startswith("sqlite:///")
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(ConfigError, match="unsupported database"):
        TagStore("mysql://u@h/db")
    with pytest.raises(ConfigError, match="cannot open the tag store"):
        TagStore("postgresql://nobody@127.0.0.1:1/none")


def test_same_product_twice_in_one_batch(store: TagStore) -> None:
    ids = store.record_predictions([rec("a", ["Food"], 0.3), rec("a", ["Toys"], 0.99, decision="auto_accepted")])
    assert len(ids) == 2 and ids[0] < ids[1]
    item = store.product("a")
    assert item["prediction"]["id"] == ids[1] and item["prediction"]["path"] == ["Toys"] and item["status"] == "auto"
    assert store.counts()["products"] == 1 and store.counts()["predictions"] == 2
