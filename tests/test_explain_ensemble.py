"""Ensemble explanations on a real MWPD slice: the blend's word weights are the members' weights times their blend
weights (recomputed here member by member), members and weights are reported, the voting neighbours are real
training rows (or a path's own label) with their paths and titles and are the nearest ones, older indexes without
titles still tell label rows apart, and `skutag explain` on an ensemble trained through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest_store import shared_data
from skutag.explain import explain
from skutag.models.ensemble import EnsembleModel, label_rows, label_text
from skutag.models.linear import LinearModel
from skutag.models.neighbours.hybrid import unit_rows

LABELS = ["lvl1", "lvl2", "lvl3"]
COLS = ["Name", "Description"]


def _read(name: str, n: int) -> pd.DataFrame:
    path = shared_data() / "mwpd2020" / name
    if not path.is_file():
        pytest.skip("shared data not found")
    df = pd.read_json(path, lines=True, nrows=n, dtype=False)
    return df.fillna("").astype({c: str for c in [*COLS, *LABELS]})


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return _read("train.json", 800)


@pytest.fixture(scope="module")
def ensemble(train: pd.DataFrame) -> EnsembleModel:
    """A linear model on name + description and a class-balanced one on the name alone, with the neighbour votes;
    uneven blend weights, so that a wrong factor shows."""
    a = LinearModel(calibration_fraction=0.0).fit(train[COLS], train[LABELS])
    b = LinearModel(calibration_fraction=0.0, class_weight="balanced").fit(train[["Name"]], train[LABELS])
    ens = EnsembleModel.from_members([a, b])
    assert ens.build_neighbours(train[COLS], train[LABELS]) > len(train)  # the rows, then the paths' labels
    ens.weights_ = (0.5, 0.3, 0.2)
    return ens


def _path_of(row: pd.Series) -> list[str]:
    return [str(row[c]) for c in LABELS if str(row[c])]


def test_blend_weights_are_the_members_weights_times_their_blend_weights(ensemble: EnsembleModel) -> None:
    rows = _read("validation.json", 12)[COLS]
    found = explain(ensemble, rows)
    probs = ensemble.predict_path_proba(rows)
    names = ensemble.path_names()
    inputs = ensemble.member_probs(rows)
    for i, ex in enumerate(found):
        assert ex.method == "blend"
        col = names.index(tuple(ex.path))
        assert ex.probability == pytest.approx(float(probs[i, col]), abs=1e-6)
        assert [m["kind"] for m in ex.members] == ["linear", "linear", "neighbours"]
        assert [m["weight"] for m in ex.members] == pytest.approx([0.5, 0.3, 0.2])
        for m, given in zip(ex.members, inputs, strict=True):  # each input as the blend took it
            assert m["probability"] == pytest.approx(float(given[i, col]), abs=1e-6)
        expected: dict[tuple[str, int], float] = {}
        for member, w in zip(ensemble.models_, ensemble.weights_, strict=False):
            own = explain(member, rows.iloc[[i]][list(member.text_columns_)], path=ex.path, neighbours=0)[0]
            assert own.method == "linear"
            for s in own.spans:
                expected[(s.field, s.start)] = expected.get((s.field, s.start), 0.0) + w * s.weight
        assert len(ex.spans) == len(expected)
        for s in ex.spans:
            assert s.weight == pytest.approx(expected[(s.field, s.start)], abs=1e-9), s
            assert str(rows.iloc[i][s.field])[s.start : s.end] == s.text
        assert any(abs(s.weight) > 1e-3 for s in ex.spans)
        # the name-only member sees no description word: those carry the first member's share alone
        desc = [s for s in ex.spans if s.field == "Description"]
        if desc:
            first = explain(ensemble.models_[0], rows.iloc[[i]], path=ex.path, neighbours=0)[0]
            alone = {(s.field, s.start): s.weight for s in first.spans}
            assert all(s.weight == pytest.approx(0.5 * alone[(s.field, s.start)], abs=1e-9) for s in desc)


def test_neighbours_are_the_nearest_training_rows(ensemble: EnsembleModel, train: pd.DataFrame) -> None:
    picks = [3, 10, 250, 611]
    queries = train.iloc[picks][COLS].reset_index(drop=True)
    found = explain(ensemble, queries, neighbours=5)
    index = ensemble.neighbours_
    assert index is not None and index.products == len(train)
    # the similarity to every indexed row computed again from the members' features (products, then labels)
    paths = [tuple(p) for p in train[LABELS].drop_duplicates().itertuples(index=False)]
    seen = sorted({ensemble.path_names().index(p) for p in paths})
    extra = label_rows([ensemble.path_names()[j] for j in seen], COLS)
    extra = extra[extra["Name"] != ""]
    everything = pd.concat([train[COLS], extra], ignore_index=True)
    sims = np.zeros((len(queries), len(everything)))
    for m, w in zip(ensemble._neighbour_models(), index.weights, strict=True):
        q, t = unit_rows(m.neighbour_features(queries)), unit_rows(m.neighbour_features(everything))
        prod = q @ t.T
        sims += w * (prod.toarray() if hasattr(prod, "toarray") else prod)
    for i, (pick, ex) in enumerate(zip(picks, found, strict=True)):
        near = ex.neighbours
        assert len(near) == 5
        first = near[0]
        assert first["row"] == pick and first["similarity"] == pytest.approx(1.0, abs=1e-3)
        assert first["kind"] == "product" and first["text"] == train.iloc[pick]["Name"]
        assert first["path"] == _path_of(train.iloc[pick])
        got = [n["similarity"] for n in near]
        assert got == sorted(got, reverse=True)
        fifth = sorted(sims[i], reverse=True)[4]
        assert got[-1] == pytest.approx(fifth, abs=1e-3)  # no closer row was left out
        for n in near:
            assert n["similarity"] == pytest.approx(sims[i, n["row"]], abs=1e-3)
            if n["kind"] == "product":
                row = train.iloc[n["row"]]
                assert n["path"] == _path_of(row) and n["text"] == (row["Name"] or row["Description"])[:200]
            else:
                assert n["row"] >= len(train) and n["text"] == label_text(n["path"][-1])


def test_index_saved_without_titles_still_tells_labels_apart(
    ensemble: EnsembleModel, train: pd.DataFrame, tmp_path: Path
) -> None:
    """An index saved before it kept titles and the product count (older skutag): labels found from the paths."""
    from skutag.models.card import sha256_file
    from skutag.models.neighbours.hybrid import FILE
    from skutag.models.registry import load_model

    ensemble.save(tmp_path / "e")
    loaded = load_model(tmp_path / "e")
    assert isinstance(loaded, EnsembleModel) and loaded.neighbours_ is not None
    assert loaded.neighbours_.products == len(train) and loaded.neighbours_.text(3) == train.iloc[3]["Name"]
    npz = tmp_path / "e" / FILE
    with np.load(npz) as z:
        kept = {k: z[k] for k in z.files if k not in ("products", "texts_data", "texts_offsets")}
    np.savez_compressed(npz, **kept)
    meta = json.loads((tmp_path / "e" / "meta.json").read_text("utf-8"))
    meta["files"][FILE] = sha256_file(npz)
    (tmp_path / "e" / "meta.json").write_text(json.dumps(meta), "utf-8")
    old = load_model(tmp_path / "e")
    assert isinstance(old, EnsembleModel) and old.neighbours_ is not None
    assert old.neighbours_.products == len(train) and not old.neighbours_.has_texts
    query = pd.DataFrame({"Name": ["Insect / Pest / Allergen Control"], "Description": [""]})
    near = explain(old, query, neighbours=10)[0].neighbours
    assert near and all("text" not in n for n in near)
    assert all((n["kind"] == "label") == (n["row"] >= len(train)) for n in near)
    assert any(n["kind"] == "label" for n in near)


def test_cli_explain_an_ensemble(tmp_path: Path, train: pd.DataFrame) -> None:
    from typer.testing import CliRunner

    from skutag.cli.main import app

    data = tmp_path / "train.jsonl"
    train.head(500).to_json(data, orient="records", lines=True)
    members = [{"model": "linear", "params": {}}, {"model": "linear", "params": {"class_weight": "balanced"}}]
    params = json.dumps({"members": members, "grid_step": 0.25})
    runner = CliRunner()
    model = tmp_path / "model"
    r = runner.invoke(
        app, ["train", str(data), "--model", "ensemble", "--params", params, "--label", ",".join(LABELS),
              "--out", str(model)]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = tmp_path / "rows.jsonl"
    train.iloc[[7, 40, 41]].to_json(rows, orient="records", lines=True)
    out = tmp_path / "out"
    r = runner.invoke(app, ["explain", str(model), str(rows), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "3 rows explained (blend" in r.output
    lines = [json.loads(x) for x in (out / "explanations.jsonl").read_text().splitlines()]
    assert len(lines) == 3
    for line, (_, row) in zip(lines, train.iloc[[7, 40, 41]].iterrows(), strict=True):
        assert line["method"] == "blend" and line["spans"]
        kinds = [m["kind"] for m in line["members"]]
        assert kinds == ["linear", "linear", "neighbours"]
        assert sum(m["weight"] for m in line["members"]) == pytest.approx(1.0)
        first = line["neighbours"][0]  # the row itself was trained on: it is its own nearest neighbour
        assert first["kind"] == "product" and first["text"] == row["Name"] and first["similarity"] > 0.99
        assert first["path"] == _path_of(row)
    page = (out / "explanations.html").read_text()
    assert "training row" in page and "<mark" in page


def test_a_neural_member_is_explained_as_the_blend_takes_it(tmp_path: Path) -> None:
    """With the ensemble's own neighbour index a neural member enters the blend with its heads alone: its
    explanation (its default, greedy erasure) and reported probability are of that distribution, not of the member
    mixed with its own index's votes (recomputed here over a heads-only view built in the test)."""
    from skutag.explain.erasure import erasure_spans
    from skutag.explain.spans import tokens
    from test_ensemble import create_fast
    from test_transformer_helpers import synthetic_catalogue, tiny_encoder

    class HeadsOnly:
        def __init__(self, member: object) -> None:
            self.member = member

        def __getattr__(self, name: str) -> object:
            return getattr(self.member, name)

        def predict_path_proba(self, texts: pd.DataFrame) -> np.ndarray:
            return np.asarray(fast.path_proba_and_features(texts, neighbours=False)[0])

    texts, labels = synthetic_catalogue(160)
    lin = LinearModel().fit(texts, labels)
    fast = create_fast(tiny_encoder(tmp_path / "enc")).fit(texts, labels)
    assert fast.knn_index_.weight > 0  # alone, it mixes its own votes
    ens = EnsembleModel.from_members([lin, fast])
    ens.build_neighbours(texts, labels)
    ens.weights_ = (0.3, 0.5, 0.2)
    rows = pd.DataFrame({"title": ["cheap drill great item 7", "apple best apple item 42"]})
    inputs = ens.member_probs(rows)
    names = ens.path_names()
    for i, ex in enumerate(explain(ens, rows)):
        col = names.index(tuple(ex.path))
        member = ex.members[1]
        assert member["kind"] == "fast" and member["method"] == "erasure"
        assert member["probability"] == pytest.approx(float(inputs[1][i, col]), abs=1e-5)
        text = [str(rows.iloc[i]["title"])]
        toks = tokens(text, ["title"])
        heads, base, _ = erasure_spans(HeadsOnly(fast), text, toks, ex.path)  # type: ignore[arg-type]
        assert base == pytest.approx(float(inputs[1][i, col]), abs=1e-5)
        mixed, _, _ = erasure_spans(fast, text, toks, ex.path)
        assert any(abs(a.weight - b.weight) > 1e-4 for a, b in zip(heads, mixed, strict=True))  # the votes matter
        lin_own = explain(lin, rows.iloc[[i]], path=ex.path, neighbours=0)[0]
        for k, s in enumerate(ex.spans):
            want = 0.3 * lin_own.spans[k].weight + 0.5 * heads[k].weight
            assert s.weight == pytest.approx(want, abs=1e-6)
