"""Tag explanations on real WDC-PAVE titles with planted cues: a model directory holding a category model, a
character-CRF attribute part and a free-tag part (tiny random encoder), all trained through `skutag train`.

Every training title gets ``zqj N`` (N labelled as the attribute ``Pack Size``) and a decoy number without the
cue; half get the word ``giftzq`` (tag ``gift``). The cue, not the number's shape, decides the value, so the cue
must be the top context word of the value's span; the same for the tag. Then `skutag explain` and POST
/v1/explain through their doors."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from real_shaped import SHARED
from skutag.cli.main import app
from skutag.explain.tags import explain_tags, span_score
from skutag.extraction.examples import join_fields
from skutag.models.bundle import ModelBundle, load_bundle
from skutag.models.parts.tagsets import tag_text
from test_serve_api import AUTH, KEY
from test_transformer_helpers import tiny_encoder

PAVE = SHARED / "wdc-pave" / "raw"
CUE, GIFT, ATTR = "zqj", "giftzq", "Pack Size"
runner = CliRunner()


def _plant(line: str, rng: random.Random) -> dict[str, object]:
    row = json.loads(line)
    words = row["input_title"].split(" ")
    n, decoy = rng.randint(10, 999), rng.randint(10, 999)
    words.insert(rng.randint(0, len(words)), str(decoy))
    words.insert(rng.randint(0, len(words)), f"{CUE} {n}")
    gift = rng.random() < 0.5
    if gift:
        words.insert(rng.randint(0, len(words)), GIFT)
    row["input_title"] = " ".join(words)
    row["target_scores"] = {
        ATTR: {str(n): {"pid": [0], "score": 1}},
        "Brand": row["target_scores"].get("Brand", {"n/a": 1}),
    }
    row["labels"] = "|".join((["gift"] if gift else []) + (["jewelry"] if row["category"] == "Jewelry" else []))
    row["planted"] = str(n)
    return row


def cli(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not (PAVE / "train_large.jsonl").is_file():
        pytest.skip("shared data not found")
    d = tmp_path_factory.mktemp("planted")
    rng = random.Random(0)
    train = [_plant(x, rng) for x in (PAVE / "train_large.jsonl").read_text("utf-8").splitlines()[:900:3]]
    test = [_plant(x, rng) for x in (PAVE / "test.jsonl").read_text("utf-8").splitlines()[:40]]
    for name, rows in (("train", train), ("test", test)):
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    out = d / "model"
    tagger = {
        "encoder": tiny_encoder(d / "enc"), "epochs": 15, "num_threads": 1, "progress_bar": False, "head_lr": 1e-2,
        "encoder_lr": 1e-3, "freeze_embeddings": False,
    }  # fmt: skip
    crf = {"tagger": "crf", "max_iterations": 50}
    cli("train", d / "train.jsonl", "--label", "category", "--out", out)
    cli(
        "train",
        d / "train.jsonl",
        "--model",
        "extractor",
        "--text",
        "input_title",
        "--params",
        json.dumps(crf),
        "--out",
        out,
    )
    cli("train", d / "train.jsonl", "--model", "tags", "--tags", "labels", "--text", "input_title", "--params",
        json.dumps(tagger), "--out", out)  # fmt: skip
    return {"dir": d, "model": out, "test": d / "test.jsonl"}


@pytest.fixture(scope="module")
def bundle(data: dict[str, Path]) -> ModelBundle:
    found = load_bundle(data["model"])
    assert found.category is not None and found.attributes is not None and found.tags is not None
    return found


@pytest.fixture(scope="module")
def rows(data: dict[str, Path]) -> pd.DataFrame:
    return pd.read_json(data["test"], lines=True, dtype=False)


def test_span_score_is_the_score_times_the_overlap() -> None:
    found = [("A", 0, 4, 0.9), ("A", 10, 14, 0.5), ("B", 0, 4, 1.0)]
    assert span_score(found, "A", 0, 4) == pytest.approx(0.9)
    assert span_score(found, "A", 0, 8) == pytest.approx(0.45)  # half the span
    assert span_score(found, "A", 4, 10) == 0.0 and span_score(found, "C", 0, 4) == 0.0


def test_the_planted_cue_decides_the_attribute(bundle: ModelBundle, rows: pd.DataFrame) -> None:
    found = explain_tags(bundle, rows)
    predicted = bundle.predict_tags(rows)
    part = bundle.attributes
    assert part is not None
    hits = 0
    for why, entries, (_, row) in zip(found, predicted, rows.iterrows(), strict=True):
        assert list(why) == list(entries)  # the tags the product gets, under the same names
        for name, ex in why.items():
            entry = entries[name]
            assert ex.value == entry["value"] and ex.confidence == entry["confidence"]
            if ex.kind == "attribute":
                assert ex.span is not None
                assert (ex.span.field, ex.span.start, ex.span.end) == (entry["field"], entry["start"], entry["end"])
                assert row["input_title"][ex.span.start : ex.span.end] == ex.span.text == entry["text"]
            for c in ex.context:
                assert c.field == "name" and row["input_title"][c.start : c.end] == c.text
                if ex.span is not None:
                    assert c.end <= ex.span.start or c.start >= ex.span.end  # context lies outside the span
        ex = why.get(ATTR)
        if ex is None or ex.value != row["planted"]:
            continue
        hits += 1
        assert ex.context[0].text == CUE, [(c.text, round(c.weight, 3)) for c in ex.context]
        assert ex.context[0].weight > 0.5 * ex.score
        # checked by the part's own predictions: without the cue, the span's score falls by the cue's weight
        title = row["input_title"]
        at = title.index(f"{CUE} ")
        blanked = title[:at] + " " * len(CUE) + title[at + len(CUE) :]
        assert ex.span is not None
        texts = [join_fields([t]) for t in (title, blanked)]
        scored = part.raw_spans(texts, [row["category"]] * 2)
        full, without = (span_score(s, ATTR, ex.span.start, ex.span.end) for s in scored)
        assert full == pytest.approx(ex.score) and full - without == pytest.approx(ex.context[0].weight)
        gone = bundle.predict_tags([{"name": blanked, "category": row["category"]}])[0].get(ATTR)
        assert gone is None or gone["value"] != row["planted"] or gone["confidence"] < entry["confidence"]
    assert hits >= 36  # of 40 rows


def test_word_budget_keeps_the_nearest_words(bundle: ModelBundle, rows: pd.DataFrame) -> None:
    found = explain_tags(bundle, rows.head(8), words=2, top=None)
    for why, (_, row) in zip(found, rows.head(8).iterrows(), strict=True):
        ex = why.get(ATTR)
        if ex is None or ex.span is None:
            continue
        assert ex.words <= 2 and len(ex.context) <= 2
        title = row["input_title"]
        if title[: ex.span.start].endswith(f"{CUE} "):
            assert ex.context[0].text == CUE  # the cue is the span's nearest word: inside any budget


def test_the_planted_word_decides_the_free_tag(bundle: ModelBundle, rows: pd.DataFrame) -> None:
    part = bundle.tags
    assert part is not None
    found = explain_tags(bundle, rows)
    cued = tops = 0
    for why, (_, row) in zip(found, rows.iterrows(), strict=True):
        ex = why.get("gift")
        if ex is None or GIFT not in row["input_title"]:
            continue
        cued += 1
        assert ex.kind == "tag" and ex.span is None and ex.target.startswith("probability of the tag")
        tops += ex.context[0].text == GIFT
        cue = next(c for c in ex.context if c.text == GIFT)
        title = row["input_title"]
        blanked = title[: cue.start] + " " * len(GIFT) + title[cue.end :]
        p = part.tagger.predict_proba([tag_text([title]), tag_text([blanked])])["gift"].to_numpy()
        assert ex.score == pytest.approx(float(p[0]), abs=1e-5)
        assert cue.weight == pytest.approx(float(p[0] - p[1]), abs=1e-5)
    assert cued >= 15 and tops >= 0.8 * cued


def test_cli_explain_writes_the_tags(data: dict[str, Path], rows: pd.DataFrame) -> None:
    out = data["dir"] / "explained"
    output = cli("explain", data["model"], data["test"], "--out", out, "--limit", "10")
    assert "10 rows explained" in output and "tags (" in output and "ms/tag" in output
    lines = [json.loads(x) for x in (out / "explanations.jsonl").read_text("utf-8").splitlines()]
    assert len(lines) == 10
    cued = 0
    for line, (_, row) in zip(lines, rows.head(10).iterrows(), strict=True):
        assert line["method"] == "linear" and "tags" in line
        tag = line["tags"].get(ATTR)
        if tag is None or tag["value"] != row["planted"]:
            continue
        cued += 1
        assert row["input_title"][tag["span"]["start"] : tag["span"]["end"]] == tag["span"]["text"]
        assert tag["context"][0]["text"] == CUE and tag["kind"] == "attribute"
    assert cued >= 8
    page = (out / "explanations.html").read_text("utf-8")
    assert "<mark class='value'" in page and f">{CUE}</mark>" in page and "Pack Size" in page


@pytest.fixture(scope="module")
def client(data: dict[str, Path]) -> Iterator[TestClient]:
    from skutag.serving.app import create_app
    from skutag.serving.settings import ServeSettings

    db = f"sqlite:///{data['dir'] / 'tags.db'}"
    settings = ServeSettings(model_dir=data["model"], db_url=db, api_keys=KEY)  # the worker in its own process
    with TestClient(create_app(settings)) as c:
        yield c


def test_api_explain_returns_the_tags(client: TestClient, rows: pd.DataFrame) -> None:
    head = rows.head(4)
    products = [
        {"id": f"p{i}", "name": r["input_title"], "category": r["category"]} for i, (_, r) in enumerate(head.iterrows())
    ]
    r = client.post("/v1/explain", json={"products": products, "tags": True}, headers=AUTH)
    assert r.status_code == 200, r.text
    tagged = client.post("/v1/tag", json={"products": products}, headers=AUTH).json()["results"]
    for res, tag, product, planted in zip(r.json()["results"], tagged, products, head["planted"], strict=True):
        assert set(res["tags"]) == set(tag["tags"])
        assert all("context" not in entry for entry in tag["tags"].values())  # /v1/tag's answer is unchanged
        found = res["tags"][ATTR]
        assert found["value"] == planted and found["span"]["field"] == "name"
        assert product["name"][found["span"]["start"] : found["span"]["end"]] == planted
        assert found["context"][0]["text"] == CUE and found["context"][0]["weight"] > 0
        for c in found["context"]:
            assert product[c["field"]][c["start"] : c["end"]] == c["text"]
    for body in ({"products": products[:1]}, {"products": products[:1], "tags": False}):  # asked for only
        r = client.post("/v1/explain", json=body, headers=AUTH)
        assert r.status_code == 200 and r.json()["results"][0]["tags"] is None


def _products(rows: pd.DataFrame, n: int) -> list[dict[str, str]]:
    return [
        {"id": f"p{i}", "name": r["input_title"], "category": r["category"]}
        for i, (_, r) in enumerate(rows.head(n).iterrows())
    ]


def test_review_evidence_explains_the_stored_products_tags(client: TestClient, rows: pd.DataFrame) -> None:
    products = _products(rows, 2)
    assert client.post("/v1/tag", json={"products": products}, headers=AUTH).status_code == 200
    r = client.get("/v1/review/evidence", params={"id": "p1", "tags": "true"}, headers=AUTH)
    assert r.status_code == 200, r.text
    found = r.json()["tags"][ATTR]
    assert found["value"] == rows["planted"].iloc[1] and found["context"][0]["text"] == CUE
    plain = client.get("/v1/review/evidence", params={"id": "p1"}, headers=AUTH)
    assert plain.status_code == 200 and plain.json()["tags"] is None and plain.json()["spans"]  # asked for only


def test_review_page_shows_why_each_tag(data: dict[str, Path], rows: pd.DataFrame, tmp_path: Path) -> None:
    """In a real browser: "Why these tags?" puts each value's deciding words beside it (the planted cue first);
    an edited value no longer claims the explanation."""
    from conftest_store import ServerThread
    from skutag.serving.app import create_app
    from skutag.serving.settings import ServeSettings
    from test_review_browser import signed_in_review_page

    settings = ServeSettings(model_dir=data["model"], db_url=f"sqlite:///{tmp_path / 'review.db'}", api_keys=KEY,
                             threshold=1.0)  # fmt: skip
    with ServerThread(create_app(settings)) as srv:
        products = _products(rows, 3)
        r = httpx.post(f"{srv.url}/v1/tag", json={"products": products}, headers=AUTH, timeout=60)
        assert r.status_code == 200, r.text
        with signed_in_review_page(srv.url, KEY, height=1000) as (page, errors):
            page.locator("#queue-list li", has_text=products[2]["name"][:30]).click()
            page.wait_for_function("document.getElementById('item-id').textContent === 'p2'")
            row = page.locator(f"#tag-rows tr[data-tag='{ATTR}']")
            assert row.locator(".tag-value").text_content() == rows["planted"].iloc[2]
            assert row.locator("td.why").text_content() == ""  # nothing computed before it is asked for
            page.click("#explain-tags")
            page.wait_for_selector(f"#tag-rows tr[data-tag='{ATTR}'] td.why .why-word")
            first = page.locator(f"#tag-rows tr[data-tag='{ATTR}'] td.why .why-word").first
            assert (first.text_content() or "").startswith(CUE + " +")
            assert "tags explained" in (page.text_content("#status") or "")
            page.locator(f"#tag-rows tr[data-tag='{ATTR}'] .tag-edit").click()
            page.fill(f"#tag-rows tr[data-tag='{ATTR}'] .tag-value-input", "12345")
            page.keyboard.press("Enter")
            assert page.locator(f"#tag-rows tr[data-tag='{ATTR}'] td.why").text_content() == "-"
    assert errors == []
