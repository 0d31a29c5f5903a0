"""Greedy erasure on a real MWPD slice (linear model on titles, one class carrying a planted word): the planted word
is erased first, the weights follow the erasure order and add up as documented, each step is the greedy choice, the
top two words never lose less than occlusion's top two, and `skutag explain --method erasure` end to end."""

from __future__ import annotations

import itertools
import json
import math
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest_store import shared_data
from skutag.explain import METHODS, explain
from skutag.explain.erasure import FRACTION, erasure_spans
from skutag.explain.occlusion import occlusion_spans
from skutag.explain.scoring import best_paths, path_probability
from skutag.explain.spans import Token, remove, tokens
from skutag.models.linear import LinearModel

PLANTED = "zqxvortal"
LABELS = ["lvl1", "lvl2", "lvl3"]
COLS = ["Name"]


@pytest.fixture(scope="module")
def planted() -> tuple[LinearModel, pd.DataFrame, str]:
    """A linear model on the titles of 800 real offers where every offer of one mid-sized class has the planted
    word."""
    path = shared_data() / "mwpd2020" / "train.json"
    if not path.is_file():
        pytest.skip("shared data not found")
    df = pd.read_json(path, lines=True, nrows=800)
    df = df.fillna("").astype({c: str for c in ["Name", "Description", *LABELS]})
    cls = str(df["lvl3"].value_counts().index[5])
    mask = df["lvl3"] == cls
    df.loc[mask, "Name"] = df.loc[mask, "Name"].map(lambda n: f"{n} {PLANTED}")
    model = LinearModel(calibration_fraction=0.0).fit(df[COLS], df[LABELS])
    return model, df, cls


def _prob(model: LinearModel, texts: list[str], toks: list[Token], drop: list[int], path: list[str]) -> float:
    frame = pd.DataFrame([remove(texts, toks, drop)], columns=COLS, dtype=object)
    return float(path_probability(model, frame, [path])[0])


def _rows(df: pd.DataFrame, start: int, n: int) -> list[tuple[list[str], list[Token]]]:
    out = []
    for name in df["Name"].iloc[start : start + n]:
        texts = [str(name)]
        out.append((texts, tokens(texts, COLS)))
    return out


def test_planted_word_is_erased_first(planted: tuple[LinearModel, pd.DataFrame, str]) -> None:
    model, df, cls = planted
    rows = df[df["lvl3"] == cls].head(12)
    found = explain(model, rows[COLS], method="erasure")
    for ex in found:
        assert ex.method == "erasure" and ex.path[-1] == cls and "erased" in ex.target
        assert ex.top(1)[0].text == PLANTED, [(s.text, round(s.weight, 3)) for s in ex.top(3)]
        assert 0 < ex.top(1)[0].weight <= ex.probability


def test_weights_follow_the_erasure_order(planted: tuple[LinearModel, pd.DataFrame, str]) -> None:
    """Erased words rank first in erasure order, each weighing P(path) with the words erased before it blank
    minus P(path) with all of them blank; each step blanks the word that lowers P(path) most (brute force)."""
    model, df, _ = planted
    checked = 0
    for texts, toks in _rows(df, 300, 25):
        path = best_paths(model, pd.DataFrame([texts], columns=COLS))[0]
        spans, base, erased = erasure_spans(model, texts, toks, path)
        w = [s.weight for s in spans]
        assert 1 <= len(erased) <= math.ceil(FRACTION * len(toks))
        assert base == pytest.approx(_prob(model, texts, toks, [], path), abs=1e-5)
        order = sorted(range(len(w)), key=lambda i: (-w[i], i))
        assert order[: len(erased)] == erased
        assert all(w[a] > w[b] for a, b in itertools.pairwise(erased))
        end = _prob(model, texts, toks, erased, path)
        for j, i in enumerate(erased):
            before = _prob(model, texts, toks, erased[:j], path)
            assert w[i] == pytest.approx(before - end, abs=1e-5)  # batched vs one-row float32 predictions
            rest = [k for k in range(len(toks)) if k not in erased[:j]]
            drops = [before - _prob(model, texts, toks, [*erased[:j], k], path) for k in rest]
            assert drops[rest.index(i)] >= max(drops) - 1e-5
        others = [w[k] for k in range(len(w)) if k not in erased]
        assert all(x <= w[erased[-1]] for x in others)
        checked += len(toks) >= 8
    assert checked >= 5  # some titles long enough for two or more rounds


def test_top_two_never_lose_less_than_occlusion(planted: tuple[LinearModel, pd.DataFrame, str]) -> None:
    """Greedy's second word is the best given its first (occlusion's first): blanking erasure's top two words
    lowers P(path) at least as much as blanking occlusion's, row by row, and strictly more on some rows."""
    model, df, _ = planted
    better = 0
    for texts, toks in _rows(df, 500, 40):
        if len(toks) < 5:
            continue
        path = best_paths(model, pd.DataFrame([texts], columns=COLS))[0]
        occ, _ = occlusion_spans(model, texts, toks, path)
        era, _, _ = erasure_spans(model, texts, toks, path)
        top2 = [sorted(range(len(toks)), key=lambda i: (-s[i].weight, i))[:2] for s in (occ, era)]
        p_occ, p_era = (_prob(model, texts, toks, t, path) for t in top2)
        assert p_era <= p_occ + 1e-9
        better += p_era < p_occ - 1e-6
    assert better >= 1


def test_budget_and_edges(planted: tuple[LinearModel, pd.DataFrame, str]) -> None:
    model, df, cls = planted
    texts = [str(df[df["lvl3"] == cls]["Name"].iloc[0])]
    toks = tokens(texts, COLS)
    path = best_paths(model, pd.DataFrame([texts], columns=COLS))[0]
    # one round is occlusion: the erased word weighs its own loss, the others theirs
    one, _, erased = erasure_spans(model, texts, toks, path, max_rounds=1)
    occ, _ = occlusion_spans(model, texts, toks, path)
    assert len(erased) == 1
    assert [s.weight for s in one] == pytest.approx([s.weight for s in occ], abs=1e-12)
    # so is a budget of predictions that only round 1 fits in
    capped, _, erased = erasure_spans(model, texts, toks, path, max_predictions=len(toks) + 1)
    assert len(erased) == 1 and [s.weight for s in capped] == [s.weight for s in one]
    assert (
        len(toks) >= 5 and len(erasure_spans(model, texts, toks, path, floor=0, max_predictions=2 * len(toks))[2]) == 2
    )
    # a path the words speak against: nothing lowers it, nothing is erased, weights are occlusion's
    other = next(p for p in model.path_names() if p[-1] != cls)
    spans, _, erased = erasure_spans(model, texts, toks, list(other))
    occ_other, _ = occlusion_spans(model, texts, toks, list(other))
    if not erased:
        assert [s.weight for s in spans] == pytest.approx([s.weight for s in occ_other], abs=1e-12)
    assert {s.text: s.weight for s in spans}[PLANTED] < 0
    # no words: no spans, the text's probability still given
    spans, base, erased = erasure_spans(model, ["   "], [], path)
    assert spans == [] and erased == [] and 0 <= base <= 1


def test_cli_and_schema_offer_erasure(tmp_path: Path, planted: tuple[LinearModel, pd.DataFrame, str]) -> None:
    from typer.testing import CliRunner

    from skutag.cli.main import app
    from skutag.serving.schemas import ExplainMethod

    assert typing.get_args(ExplainMethod) == METHODS
    model, df, cls = planted
    model_dir = tmp_path / "model"
    model.save(model_dir)
    data = tmp_path / "data.jsonl"
    rows = df[df["lvl3"] == cls].head(4).to_dict("records")
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["explain", str(model_dir), str(data), "--out", str(out), "--method", "erasure"])
    assert r.exit_code == 0, r.output
    assert "4 rows explained (erasure" in r.output
    lines = [json.loads(x) for x in (out / "explanations.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and all(x["method"] == "erasure" for x in lines)
    for line in lines:
        top = max(line["spans"], key=lambda s: s["weight"])
        assert top["text"] == PLANTED
        weights = np.array([s["weight"] for s in line["spans"]])
        assert weights.max() > 0
