"""`skutag cascade`: a fast model answers, a slow one takes what the fast one is unsure of. On real MWPD offers: the
threshold tuned on labelled rows, then every road to the cascade (`skutag predict`, `POST /v1/tag`, `skutag
evaluate`, one title a call) gives each product the fast model's answer exactly where the fast model is sure enough
and the slow model's elsewhere; the threshold's two ends are the two models; errors say what is wrong."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest_store import mwpd_lines
from skutag.cli.main import app
from skutag.models.registry import load_model
from skutag.serving.app import create_app
from skutag.serving.settings import ServeSettings
from skutag.workflows.cascade import build_cascade, choose_threshold
from skutag.workflows.train import train_model

LEVELS = ["lvl1", "lvl2", "lvl3"]
SLOW_TEXT = ["Name", "CategoryText", "URL"]
KEY = "cascade-key"
runner = CliRunner()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A title-only linear model (fast) and one reading title, shop category and URL (slow, more accurate) on 1,500
    MWPD training offers; 300 validation offers to tune on, 300 others to predict."""
    train, lines = mwpd_lines("train", 1500), mwpd_lines("validation", 600)
    tmp = tmp_path_factory.mktemp("cascade")
    (tmp / "train.json").write_text("".join(train), encoding="utf-8")
    (tmp / "tune.json").write_text("".join(lines[:300]), encoding="utf-8")
    (tmp / "rows.json").write_text("".join(lines[300:]), encoding="utf-8")
    for name, text in (("fast", ["Name"]), ("slow", SLOW_TEXT)):
        train_model(tmp / "train.json", text=text, label=LEVELS, out=tmp / name, params={"n_jobs": 1})
    rows = pd.read_json(tmp / "rows.json", lines=True, dtype=False).fillna("").astype(str)
    return {"tmp": tmp, "rows": rows, "fast": load_model(tmp / "fast"), "slow": load_model(tmp / "slow")}


def expected(pair: dict[str, Any], threshold: float) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """Each row's path by the rule (the fast model's where its top path probability >= threshold, else the slow
    model's), and which rows were deferred."""
    rows = pair["rows"]
    fast = pair["fast"].predict_topk(rows[["Name"]], k=1)
    slow = pair["slow"].predict_topk(rows[SLOW_TEXT], k=1)
    conf = np.asarray(fast.scores)[:, 0]
    deferred = conf < threshold
    return [
        tuple(s[0]) if d else tuple(f[0]) for f, s, d in zip(fast.paths, slow.paths, deferred, strict=True)
    ], deferred


def test_a_tuned_cascade_answers_by_its_rule_on_every_road(pair: dict[str, Any]) -> None:
    tmp = pair["tmp"]
    out = tmp / "cascade"
    res = runner.invoke(
        app, ["cascade", str(tmp / "fast"), str(tmp / "slow"), "--tune", str(tmp / "tune.json"), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "deferred" in res.output and "(tuned)" in res.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "cascade" and meta["text_columns"] == SLOW_TEXT and meta["label_columns"] == LEVELS
    card = meta["cascade"]
    tuning = card["tuning"]
    assert card["threshold_source"] == "tuned" and card["fast"]["kind"] == card["slow"]["kind"] == "linear"
    assert tuning["rows"] == 300 and tuning["rows_rejected"] == 0
    # the setting the cascade exists for: the slow model is the more accurate one here
    assert tuning["slow"]["f1_weighted"] > tuning["fast"]["f1_weighted"] + 0.02
    assert 0.0 < tuning["deferred"] < 1.0
    assert tuning["cascade"]["mean"]["f1_weighted"] >= tuning["slow"]["f1_weighted"] - tuning["tolerance"] - 1e-9
    assert meta["calibration"]["source"] == "validation"
    threshold = float(card["threshold"])
    paths, deferred = expected(pair, threshold)
    assert 0 < deferred.sum() < len(deferred)  # both members answer some of the rows

    # skutag predict
    res = runner.invoke(app, ["predict", str(out), str(tmp / "rows.json"), "--out", str(tmp / "pred.csv")])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(tmp / "pred.csv", dtype=str, keep_default_na=False)
    got = [tuple(v for v in r if v) for r in pred[["level_1", "level_2", "level_3"]].itertuples(index=False)]
    assert got == paths

    # one title a call (the slow member gets the title alone: its other fields empty, as predict_one documents)
    model = load_model(out)
    titles = pair["rows"]["Name"].tolist()[:40]
    one = [model.predict_one(t).paths[0][0] for t in titles]
    frame = pd.DataFrame({"Name": titles, "CategoryText": "", "URL": ""})
    assert one == [tuple(p[0]) for p in model.predict_topk(frame, k=1).paths]

    # POST /v1/tag: the same answers as skutag predict
    rows = pair["rows"].head(60)
    products = [{"id": r.ID, "name": r.Name, "CategoryText": r.CategoryText, "URL": r.URL} for r in rows.itertuples()]
    settings = ServeSettings(model_dir=out, db_url=f"sqlite:///{tmp / 'api.db'}", api_keys=KEY)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/tag", json={"products": products}, headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200, r.text
        api = [tuple(x["path"]) for x in r.json()["results"]]
        # POST /v1/explain: each product by the member that answered it
        r = client.post("/v1/explain", json={"products": products[:8]}, headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200, r.text
        roles = [x["members"][0]["role"] for x in r.json()["results"]]
        assert [tuple(x["path"]) for x in r.json()["results"]] == paths[:8]
    assert api == paths[:60]
    assert roles == ["slow" if d else "fast" for d in deferred[:8]]

    # skutag evaluate reads the card's label columns
    res = runner.invoke(app, ["evaluate", str(out), str(tmp / "rows.json"), "--out", str(tmp / "eval")])
    assert res.exit_code == 0, res.output


def test_the_threshold_ends_are_the_two_models(pair: dict[str, Any]) -> None:
    tmp = pair["tmp"]
    rows = pair["rows"]
    never = build_cascade(tmp / "fast", tmp / "slow", None, threshold=0.0).model
    always = build_cascade(tmp / "fast", tmp / "slow", None, threshold=1.0).model
    assert (
        never.predict(rows).fillna("").to_numpy().tolist() == pair["fast"].predict(rows).fillna("").to_numpy().tolist()
    )
    fast_conf = np.asarray(pair["fast"].predict_topk(rows[["Name"]], k=1).scores)[:, 0]
    sure = fast_conf >= 1.0  # the only rows a threshold of 1 leaves with the fast model
    slow = pair["slow"].predict(rows).fillna("").to_numpy()
    got = always.predict(rows).fillna("").to_numpy()
    assert (got[~sure] == slow[~sure]).all()
    # a given threshold is kept as given, and the model is uncalibrated without tuning rows (auto-accepts nothing)
    res = build_cascade(tmp / "fast", tmp / "slow", tmp / "given", threshold=0.7)
    meta = json.loads((tmp / "given" / "meta.json").read_text())
    assert res.threshold_source == "given" and meta["cascade"]["threshold"] == 0.7
    assert meta["calibration"]["source"] is None and res.tuning is None


def test_choose_threshold_defers_the_fewest_rows_within_tolerance() -> None:
    curve = [
        {"threshold": 0.0, "deferred": 0.0, "f1_weighted": 0.80, "f1_macro": 0.6},
        {"threshold": 0.3, "deferred": 0.1, "f1_weighted": 0.86, "f1_macro": 0.6},
        {"threshold": 0.5, "deferred": 0.2, "f1_weighted": 0.895, "f1_macro": 0.6},
        {"threshold": 0.7, "deferred": 0.4, "f1_weighted": 0.90, "f1_macro": 0.6},
        {"threshold": 1.0, "deferred": 1.0, "f1_weighted": 0.899, "f1_macro": 0.6},
    ]
    assert choose_threshold(curve, slow_f1=0.899, tolerance=0.005)["threshold"] == 0.5
    assert choose_threshold(curve, slow_f1=0.899, tolerance=0.0)["threshold"] == 0.7
    assert choose_threshold(curve, slow_f1=0.95, tolerance=0.0)["threshold"] == 0.7  # none within: the best


def test_errors_say_what_is_wrong(pair: dict[str, Any]) -> None:
    tmp = pair["tmp"]
    res = runner.invoke(
        app, ["cascade", str(tmp / "fast"), str(tmp / "slow"), "--threshold", "1.5", "--out", str(tmp / "x")]
    )
    assert res.exit_code == 2 and "threshold must be a probability in [0, 1]" in res.output
    res = runner.invoke(app, ["cascade", str(tmp / "fast"), str(tmp / "nowhere"), "--out", str(tmp / "x")])
    assert res.exit_code == 2 and "nowhere" in res.output and "Traceback" not in res.output
    # a model of other levels cannot take a cascade's rows
    train_model(tmp / "train.json", text=["Name"], label=LEVELS[:2], out=tmp / "two", params={"n_jobs": 1})
    res = runner.invoke(app, ["cascade", str(tmp / "fast"), str(tmp / "two"), "--out", str(tmp / "x")])
    assert res.exit_code == 2 and "same taxonomy levels" in res.output
    assert not (tmp / "x").exists()
    # tuning rows without a label are rejected with their reason, the others tune: rows in = used + rejected
    lines = (tmp / "tune.json").read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[0])
    bad["lvl1"] = ""
    (tmp / "tune-bad.json").write_text("\n".join([json.dumps(bad), *lines[1:]]) + "\n", encoding="utf-8")
    res = build_cascade(
        tmp / "fast", tmp / "slow", tmp / "y", tune=tmp / "tune-bad.json", rejects=tmp / "y.rejects.jsonl"
    )
    assert res.tuning is not None and res.tuning["rows"] + res.rows_rejected == len(lines)
    assert res.rows_rejected == 1 and len((tmp / "y.rejects.jsonl").read_text().splitlines()) == 1


def test_each_row_is_explained_by_the_member_that_answers_it(pair: dict[str, Any]) -> None:
    """`skutag explain` on a cascade: the rows the fast model keeps get its exact linear weights, the deferred rows
    the slow model's, and the first `members` entry says which answered and with what probability."""
    from skutag.explain import explain

    tmp = pair["tmp"]
    out = tmp / "explained"
    cascade_dir = tmp / "for-explain"
    build_cascade(tmp / "fast", tmp / "slow", cascade_dir, threshold=0.6)
    res = runner.invoke(app, ["explain", str(cascade_dir), str(tmp / "rows.json"), "--out", str(out), "--limit", "40"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert len(rows) == 40
    _, deferred = expected(pair, 0.6)
    frame = pair["rows"].head(40)
    for i, row in enumerate(rows):
        answered = row["members"][0]
        assert answered["role"] == ("slow" if deferred[i] else "fast") and row["method"] == "member:linear"
        assert (answered["fast_probability"] < 0.6) == bool(deferred[i]) and answered["threshold"] == 0.6
    # the kept rows' weights are the fast model's own explanation of the same path
    kept = [i for i in range(40) if not deferred[i]][:5]
    own = explain(pair["fast"], frame.iloc[kept], [rows[i]["path"] for i in kept])
    for i, ex in zip(kept, own, strict=True):
        assert [round(s.weight, 6) for s in ex.spans] == [s["weight"] for s in rows[i]["spans"]]
    assert 0 < deferred[:40].sum() < 40
