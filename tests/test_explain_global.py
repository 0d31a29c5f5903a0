"""Global views on a real MWPD slice: a planted word is its class's strongest n-gram and word (exactly the linear
explanations' weight), the class is flagged only when the word is shop-specific or a brand, the rows cap deals
over classes, the report escapes product text, and `skutag evaluate` writes the section and the metrics key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest_store import shared_data
from skutag.evaluation.report import global_section
from skutag.explain import explain
from skutag.explain.global_view import _LinearView, capped_rows, global_explanations
from skutag.explain.linear import centred_score, path_weights
from skutag.explain.roles import roles_of_frame, shop_of, token_roles
from skutag.models.linear import LinearModel

PLANTED = "zqxvortal"
LABELS = ["lvl1", "lvl2", "lvl3"]
TEXT = ["Name", "Description"]


@pytest.fixture(scope="module")
def planted() -> tuple[LinearModel, pd.DataFrame, str]:
    """A linear model on 800 real offers where every offer of one mid-sized class (from ten shops) has the planted
    word in its title."""
    path = shared_data() / "mwpd2020" / "train.json"
    if not path.is_file():
        pytest.skip("shared data not found")
    df = pd.read_json(path, lines=True, nrows=800)
    df = df.fillna("").astype({c: str for c in ["Name", "Description", "URL", *LABELS]})
    cls = str(df["lvl3"].value_counts().index[5])
    mask = df["lvl3"] == cls
    assert df.loc[mask, "URL"].map(shop_of).nunique() >= 5
    df.loc[mask, "Name"] = df.loc[mask, "Name"].map(lambda n: f"{n} {PLANTED}")
    model = LinearModel(calibration_fraction=0.0).fit(df[TEXT], df[LABELS])
    return model, df, cls


def _view(model: LinearModel, frame: pd.DataFrame, **kw: object) -> dict:
    roles, shops = roles_of_frame(frame, TEXT, skip=LABELS)
    return global_explanations(model, frame[TEXT], roles=roles, shops=shops, **kw)  # type: ignore[arg-type]


def _entry(view: dict, cls: str) -> dict:
    return next(c for c in view["classes"] if c["path"][-1] == cls)


def test_planted_word_is_the_strongest_and_not_flagged_across_shops(planted: tuple) -> None:
    model, df, cls = planted
    view = _view(model, df)
    assert view["method"] == "linear" and view["rows_explained"] == len(df)
    c = _entry(view, cls)
    assert c["ngrams"][0]["text"] == PLANTED and c["ngrams"][0]["kind"] == "word", c["ngrams"][:3]
    assert c["words"][0]["text"] == PLANTED and c["words"][0]["role"] is None
    assert c["negative"] and all(n["weight"] < 0 and n["text"] for n in c["negative"])
    # sold by ten shops: the word is the class's evidence but neither a brand nor a shop's token
    assert not c["flagged"] and (c["share"] or 0) < 0.5
    assert c["shops"] >= 5


def test_planted_word_from_one_shop_flags_its_class(planted: tuple) -> None:
    model, df, cls = planted
    shop_df = df.copy()
    mask = shop_df["lvl3"] == cls
    shop_df.loc[mask, "URL"] = [f"https://www.zqx-outlet.com/p/{i}" for i in range(int(mask.sum()))]
    view = _view(model, shop_df)
    c = _entry(view, cls)
    assert c["words"][0]["text"] == PLANTED and c["words"][0]["role"] == "shop"
    assert c["flagged"] and c["share"] >= 0.5 and c["shop_share"] >= 0.5, c
    assert c["shops"] == 1
    assert cls in {f["class"].split(" > ")[-1] for f in view["flagged"]}
    assert view["roles"]["shop_column"] == "URL"


def test_planted_brand_flags_its_class(planted: tuple) -> None:
    model, df, cls = planted
    branded = df.copy()
    branded["Brand"] = np.where(branded["lvl3"] == cls, PLANTED.capitalize(), "")
    view = _view(model, branded)
    c = _entry(view, cls)
    assert view["roles"]["brand_column"] == "Brand"
    assert c["words"][0]["role"] == "brand" and c["flagged"] and c["brand_share"] >= 0.5


def test_word_weights_are_the_linear_explanations_mean(planted: tuple) -> None:
    model, df, cls = planted
    view = _view(model, df)
    c = _entry(view, cls)
    predicted = [p for p in model.predict_topk(df[TEXT], k=1).paths]
    rows = df[TEXT][[tuple(p[0]) == tuple(c["path"]) for p in predicted]]
    found = explain(model, rows, path=c["path"])
    per_row = [sum(s.weight for s in ex.spans if s.text == PLANTED) for ex in found]
    assert c["words"][0]["weight"] == pytest.approx(float(np.mean(per_row)), rel=1e-4)


def test_contributions_add_up_to_the_centred_score(planted: tuple) -> None:
    model, df, _ = planted
    frame = df[TEXT].iloc[300:320].reset_index(drop=True)
    paths = [tuple(p[0]) for p in model.predict_topk(frame, k=1).paths]
    groups = sorted(set(paths))
    row_group = np.array([groups.index(p) for p in paths])
    view = _LinearView(model, frame, row_group, groups, token_roles([]), 10)
    rows = np.concatenate([o.rows for o in view.fields])
    feats = np.concatenate([o.feats for o in view.fields])
    values = np.concatenate([o.values for o in view.fields])
    per_row = np.bincount(rows, weights=values * view.weights(feats, row_group[rows]), minlength=len(frame))
    for i, p in enumerate(paths):
        bias = path_weights(model, p)[1]
        assert per_row[i] + bias == pytest.approx(centred_score(model, frame.iloc[i].tolist(), p), abs=1e-3)


def test_occlusion_view_finds_the_planted_word(planted: tuple) -> None:
    model, df, cls = planted
    view = _view(model, df, method="occlusion", max_rows=200)
    assert view["method"] == "occlusion" and view["rows_explained"] == 200
    c = _entry(view, cls)
    assert "ngrams" not in c and c["words"][0]["text"] == PLANTED


def test_capped_rows_deal_over_classes() -> None:
    paths = [("a",)] * 50 + [("b",)] * 2 + [("c",)]
    chosen = capped_rows(paths, 5)
    got = [paths[i][0] for i in chosen]
    assert len(chosen) == 5 and got.count("b") == 2 and got.count("c") == 1
    assert list(capped_rows(paths, 0)) == list(range(len(paths)))


def test_roles_rules() -> None:
    assert shop_of("http://eastcarolina.teamfanshop.com/x") == "teamfanshop.com"
    assert shop_of("https://www.argos.co.uk/p/1") == "argos.co.uk" and shop_of("  Acme Store ") == "acme store"
    running = "a sturdy case made by Otterbox for your phone, the Otterbox case keeps it safe and Otterbox tested"
    titles = "Otterbox Defender Case For Galaxy S5"
    roles = token_roles([[running, titles]] * 2)
    assert "otterbox" in roles.brand and "case" not in roles.brand and "defender" not in roles.brand
    brand_rows = [["The North Face jacket", "The North Face"]] + [["the best mug", ""]] * 3
    roles = token_roles([r[:1] for r in brand_rows], brands=[r[1] for r in brand_rows])
    assert {"north", "face"} <= set(roles.brand) and "the" not in roles.brand


def test_report_escapes_evidence() -> None:
    evil = "<script>alert(1)</script>"
    views = {
        "method": "linear",
        "rows": 3,
        "rows_explained": 3,
        "max_rows": 0,
        "seconds": 0.1,
        "flag_share": 0.5,
        "top": 10,
        "min_rows": 3,
        "roles": {"shop_column": "<b>URL</b>", "shop_rule": evil, "brand_rule": "", "shop_words": 1, "brand_words": 0},
        "classes": [
            {
                "class": evil,
                "rows": 3,
                "rows_explained": 3,
                "words": [{"text": evil, "weight": 1.0, "rows": 3, "role": "shop"}],
                "ngrams": [{"text": evil, "kind": "char", "weight": 0.5}],
                "negative": [{"text": evil, "kind": "word", "weight": -0.5}],
            }
        ],
        "flagged": [
            {"class": evil, "rows": 3, "share": 1.0, "brand_share": 0.0, "shop_share": 1.0, "role_words": [evil]}
        ],
    }
    page = global_section(views)
    assert "<script" not in page and "<b>URL" not in page and "&lt;script&gt;" in page
    assert "What each class learnt" in page and "Classes leaning on brands or shop tokens" in page


def test_cli_evaluate_writes_global_views(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from skutag.cli.main import app

    path = shared_data() / "mwpd2020" / "train.json"
    if not path.is_file():
        pytest.skip("shared data not found")
    df = pd.read_json(path, lines=True, nrows=700)
    train, data = tmp_path / "train.jsonl", tmp_path / "data.jsonl"
    df.head(500).to_json(train, orient="records", lines=True)
    rows = df.iloc[500:].to_dict("records")
    rows[0]["Name"] = "<script>alert(1)</script> " + str(rows[0]["Name"])
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runner = CliRunner()
    model = tmp_path / "model"
    r = runner.invoke(app, ["train", str(train), "--out", str(model), "--text", "Name", "--label", ",".join(LABELS)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "eval"
    r = runner.invoke(app, ["evaluate", str(model), str(data), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "global explanations:" in r.output
    metrics = json.loads((out / "metrics.json").read_text())
    views = metrics["global_explanations"]
    assert views["rows_explained"] == 200 and views["roles"]["shop_column"] == "URL"
    assert views["classes"] and all(c["words"] for c in views["classes"] if c["share"] is not None)
    page = (out / "report.html").read_text()
    assert "What each class learnt" in page and "Classes leaning on brands or shop tokens" in page
    assert "<script" not in page
    r = runner.invoke(app, ["evaluate", str(model), str(data), "--out", str(out), "--no-global-explanations"])
    assert r.exit_code == 0, r.output
    assert "global_explanations" not in json.loads((out / "metrics.json").read_text())
    assert "What each class learnt" not in (out / "report.html").read_text()


def test_transformer_view_aggregates_its_default_method(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from skutag.models.neural.transformer import TransformerModel
    from test_transformer_helpers import FAST_TRAINING, synthetic_catalogue, tiny_encoder

    texts, labels = synthetic_catalogue(120)
    params = {**FAST_TRAINING, "epochs": 2}
    model = TransformerModel(encoder=tiny_encoder(tmp_path), num_threads=1, runtime="torch", knn=0, **params)
    model.fit(texts, labels)
    view = global_explanations(model, texts, max_rows=30)
    assert view["method"] == "erasure" and view["rows_explained"] == 30 and view["max_rows"] == 30
    assert sum(c["rows"] for c in view["classes"]) == len(texts)
    assert sum(c["rows_explained"] for c in view["classes"]) == 30
    for c in view["classes"]:
        assert "ngrams" not in c and all(w["weight"] > 0 for w in c["words"])
