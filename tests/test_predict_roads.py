"""Every road to a model gives it the same text: `skutag predict`, `skutag predict --db` and `POST /v1/tag` answer
the same real MWPD rows with the same paths and scores, and the store keeps every text column the model reads.

The model reads three fields (Name, CategoryText, URL). The bulk road used to store the second one as
``description``, which the tagger never maps to ``CategoryText``: the model scored those rows without it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest_store import mwpd_lines
from skutag.catalogue.fields import TextFields
from skutag.cli.main import app
from skutag.serving.app import create_app
from skutag.serving.settings import ServeSettings
from skutag.serving.tagger import Tagger, load_served_model
from skutag.store import TagStore

TEXT = ["Name", "CategoryText", "URL"]
N_ROWS = 200
KEY = "roads-key"
runner = CliRunner()


@pytest.fixture(scope="module")
def roads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A linear model on 1,500 MWPD training offers read from three fields, and 200 validation offers to tag."""
    from skutag.workflows.train import train_model

    train = mwpd_lines("train", 1500)
    lines = mwpd_lines("validation", N_ROWS + 400)
    tmp = tmp_path_factory.mktemp("roads")
    (tmp / "train.json").write_text("".join(train), encoding="utf-8")
    (tmp / "rows.json").write_text("".join(lines[:N_ROWS]), encoding="utf-8")
    (tmp / "valid.json").write_text("".join(lines[N_ROWS:]), encoding="utf-8")
    model = tmp / "model"
    train_model(
        tmp / "train.json",
        text=TEXT,
        label=["lvl1", "lvl2", "lvl3"],
        valid=tmp / "valid.json",
        out=model,
        params={"n_jobs": 1},
        rejects=tmp / "rejects.jsonl",
    )
    rows = [json.loads(line) for line in lines[:N_ROWS]]
    assert sum(bool(r["CategoryText"].strip()) for r in rows) > N_ROWS // 2  # the field the bulk road dropped
    return {"model": model, "file": tmp / "rows.json", "rows": rows, "tmp": tmp}


def _answers_from_store(db: str, ids: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    answers, fields = {}, {}
    with TagStore(db, migrate=False) as store:
        for i in ids:
            item = store.product(i)
            pred = item["prediction"]
            answers[i] = {
                "path": pred["path"],
                "score": pred["path_score"],
                "levels": pred["level_scores"],
                "alternatives": [(a["path"], a["score"]) for a in pred["topk"]],
            }
            fields[i] = {k: str(v) for k, v in item["fields"].items()}
    return answers, fields


def _same(a: dict[str, Any], b: dict[str, Any], what: str) -> None:
    assert a["path"] == b["path"], what
    assert a["score"] == pytest.approx(b["score"], abs=1e-6), what
    assert a["levels"] == pytest.approx(b["levels"], abs=1e-6), what
    assert [p for p, _ in a["alternatives"]] == [p for p, _ in b["alternatives"]], what
    assert [s for _, s in a["alternatives"]] == pytest.approx([s for _, s in b["alternatives"]], abs=1e-6), what


def test_cli_bulk_and_api_give_one_answer_and_the_store_keeps_every_text_column(roads: dict[str, Any]) -> None:
    model, file, rows, tmp = roads["model"], roads["file"], roads["rows"], roads["tmp"]
    ids = [r["ID"] for r in rows]

    # 1. skutag predict -> a file
    out = tmp / "predicted.jsonl"
    res = runner.invoke(app, ["predict", str(model), str(file), "--out", str(out), "--keep", "ID"])
    assert res.exit_code == 0, res.output
    cli: dict[str, dict[str, Any]] = {}
    for line in out.read_text("utf-8").splitlines():
        r = json.loads(line)
        alternatives = [(r["path"].split(" > "), r["path_score"])]
        alternatives += [(a["path"].split(" > "), a["score"]) for a in json.loads(r["alternatives"])]
        cli[str(r["ID"])] = {
            "path": r["path"].split(" > "),
            "score": r["path_score"],
            "levels": [r[f"score_level_{lv}"] for lv in (1, 2, 3)][: len(r["path"].split(" > "))],
            "alternatives": alternatives,
        }
    assert sorted(cli) == sorted(ids)

    # 2. skutag predict --db -> the tag store
    bulk_db = f"sqlite:///{tmp / 'bulk.db'}"
    res = runner.invoke(app, ["predict", str(model), str(file), "--db", bulk_db])
    assert res.exit_code == 0, res.output
    assert f"{N_ROWS} rows stored" in res.output
    bulk, bulk_fields = _answers_from_store(bulk_db, ids)

    # 3. POST /v1/tag, the real server stack (worker process, micro-batcher, store), products as a client sends
    #    them: `name`, and the model's other columns under their own names
    api_db = f"sqlite:///{tmp / 'api.db'}"
    settings = ServeSettings(model_dir=model, db_url=api_db, api_keys=KEY)  # type: ignore[arg-type]
    products = [{"id": r["ID"], "name": r["Name"], "CategoryText": r["CategoryText"], "URL": r["URL"]} for r in rows]
    api: dict[str, dict[str, Any]] = {}
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/models").json()["models"][0]["text_columns"] == TEXT
        for start in range(0, N_ROWS, 100):
            r = client.post(
                "/v1/tag", json={"products": products[start : start + 100]}, headers={"Authorization": f"Bearer {KEY}"}
            )
            assert r.status_code == 200, r.text
            for res_ in r.json()["results"]:
                api[res_["id"]] = {
                    "path": res_["path"],
                    "score": res_["confidence"],
                    "levels": [lv["score"] for lv in res_["levels"]],
                    "alternatives": [(a["path"], a["score"]) for a in res_["alternatives"]],
                }
    stored_api, api_fields = _answers_from_store(api_db, ids)

    for i in ids:
        _same(cli[i], bulk[i], f"skutag predict --db differs from skutag predict on {i}")
        _same(cli[i], api[i], f"POST /v1/tag differs from skutag predict on {i}")
        _same(api[i], stored_api[i], f"the API stored another answer than it gave on {i}")

    # the store holds every text column the model reads, whichever road wrote it: a re-score from the store (the
    # review page's evidence, a recalibration) sees the file's text and gives the same answer
    fields = TextFields(TEXT)
    served = load_served_model(model, target_precision=0.98, threshold=0.5)
    tagger = Tagger(served, top_k=3)
    for stored in (bulk_fields, api_fields):
        for r in rows:
            assert fields.values(stored[r["ID"]]) == [r[c] for c in TEXT]
            if r["CategoryText"].strip():
                assert r["CategoryText"] in stored[r["ID"]].values()
        rescored = tagger.tag([{"id": i, **stored[i]} for i in ids])
        for rec in rescored:
            again = {
                "path": rec.path,
                "score": rec.path_score,
                "levels": rec.level_scores,
                "alternatives": [(a["path"], a["score"]) for a in rec.topk],
            }
            _same(cli[rec.external_id], again, f"a re-score from the store differs on {rec.external_id}")
    for i in ids:  # the same fields, but the API's empty description, which the model does not read
        assert bulk_fields[i] == {k: v for k, v in api_fields[i].items() if k != "description"}
