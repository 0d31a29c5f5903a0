"""The character CRF tagger: learns Taobao entities from a small real slice, numpy decoding = crfsuite's,
safe persistence, Latin text, errors; the CJK script detector."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pycrfsuite")
pytest.importorskip("jieba")

from skutag.datasets.taobao import bio_spans, load_taobao
from skutag.errors import ConfigError, InputError, ModelLoadError, NotFittedError
from skutag.extraction.script import cjk_share, needs_characters
from skutag.models.crf import CharCRFTagger
from skutag.models.crf.decoding import marginals, viterbi
from skutag.models.crf.features import featurise

N_TRAIN, N_HELD = 300, 200
PARAMS = {"c1": 0.05, "c2": 0.01, "max_iterations": 50}


def _spans_f1(gold: list[list[tuple[str, int, int]]], pred: list[list[tuple]]) -> float:
    g = {(i, a, s, e) for i, row in enumerate(gold) for a, s, e in row}
    p = {(i, a, s, e) for i, row in enumerate(pred) for a, s, e, *_ in row}
    return 2 * len(g & p) / (len(g) + len(p)) if g or p else 0.0


@pytest.fixture(scope="module")
def taobao() -> dict:
    try:
        train, _ = load_taobao("train")
        test, _ = load_taobao("test")
    except InputError:
        pytest.skip("shared Taobao data not available")
    tr = train[:N_TRAIN]
    seen = {"".join(c) for c, _ in tr}
    held = [(c, t) for c, t in test if "".join(c) not in seen][:N_HELD]
    return {
        "train_x": ["".join(c) for c, _ in tr],
        "train_y": [bio_spans(t) for _, t in tr],
        "test_x": ["".join(c) for c, _ in held],
        "test_y": [bio_spans(t) for _, t in held],
    }


@pytest.fixture(scope="module")
def model(taobao: dict) -> CharCRFTagger:
    return CharCRFTagger(**PARAMS).fit(taobao["train_x"], taobao["train_y"])


def test_learns_taobao_entities_beyond_a_dictionary(model: CharCRFTagger, taobao: dict) -> None:
    pred = model.predict_spans(taobao["test_x"])
    f1 = _spans_f1(taobao["test_y"], pred)
    # trivial baseline: every training entity string, tagged wherever it occurs (longest first)
    known = {x[s:e]: a for x, row in zip(taobao["train_x"], taobao["train_y"], strict=True) for a, s, e in row}
    base = []
    for text in taobao["test_x"]:
        row, i = [], 0
        while i < len(text):
            n = next((n for n in range(min(12, len(text) - i), 0, -1) if text[i : i + n] in known), 0)
            if n:
                row.append((known[text[i : i + n]], i, i + n))
            i += max(n, 1)
        base.append(row)
    base_f1 = _spans_f1(taobao["test_y"], base)
    assert f1 > 0.35, f1
    assert f1 > base_f1 + 0.05, (f1, base_f1)
    assert model.labels_[0] == "O" and set(model.labels_) >= {"B-HCCX", "I-HCCX", "B-HPPX", "B-XH", "B-MISC"}
    for row, text in zip(pred, taobao["test_x"], strict=True):
        for attr, s, e, score in row:
            assert 0 <= s < e <= len(text) and 0.0 <= score <= 1.0 and attr in {"HCCX", "HPPX", "XH", "MISC"}


def test_numpy_decoding_matches_crfsuite(model: CharCRFTagger, taobao: dict) -> None:
    ours = model.predict_labels(taobao["test_x"])
    theirs = model.crfsuite_labels(taobao["test_x"])
    same = sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(ours)
    assert same >= 0.99, same  # weights are exported with 6 decimals: a near-tie could flip, none did here
    # marginals: forward-backward here against crfsuite's own, on a few titles
    import pycrfsuite

    tagger = pycrfsuite.Tagger()
    tagger.open_inmemory(model.crfsuite_model_)
    for text in taobao["test_x"][:5]:
        tagger.set(featurise(text))
        em, lengths = model._emissions([text])
        probs = marginals(em, model.transitions_, lengths)[0]
        for t in range(len(text)):
            for j, k in enumerate(model.known_):
                assert probs[t, j] == pytest.approx(tagger.marginal(model.labels_[k], t), abs=1e-4)
    tagger.close()


def test_decoding_equals_brute_force_on_a_padded_batch() -> None:
    rng = np.random.default_rng(0)
    n_labels, lengths = 3, np.array([4, 1, 3])
    em = rng.normal(size=(3, 4, n_labels))
    trans = rng.normal(size=(n_labels, n_labels))
    path, probs = viterbi(em, trans, lengths), marginals(em, trans, lengths)
    for b, n in enumerate(lengths):
        scores = {}
        for ys in itertools.product(range(n_labels), repeat=int(n)):
            scores[ys] = sum(em[b, t, y] for t, y in enumerate(ys)) + sum(
                trans[a, c] for a, c in itertools.pairwise(ys)
            )
        best = max(scores, key=lambda ys: scores[ys])
        assert tuple(path[b, :n]) == best
        z = np.logaddexp.reduce(list(scores.values()))
        for t in range(n):
            for y in range(n_labels):
                want = np.exp(np.logaddexp.reduce([s for ys, s in scores.items() if ys[t] == y]) - z)
                assert probs[b, t, y] == pytest.approx(want, abs=1e-9)
        assert np.allclose(probs[b, n:], 0.0)


def test_save_load_round_trip_without_pickle(model: CharCRFTagger, taobao: dict, tmp_path: Path) -> None:
    path = model.save(tmp_path / "crf")
    files = {p.name for p in Path(path).resolve().iterdir()}
    assert files == {"crf.json", "crf.safetensors", "meta.json"}
    assert json.loads((Path(path) / "meta.json").read_text())["kind"] == "crf-extractor"
    loaded = CharCRFTagger.load(path)
    assert loaded.get_params() == model.get_params()
    assert loaded.labels_ == model.labels_ and loaded.schema_ == model.schema_
    assert loaded.predict_spans(taobao["test_x"]) == model.predict_spans(taobao["test_x"])
    assert loaded.extract(taobao["test_x"][:20]) == model.extract(taobao["test_x"][:20])
    with pytest.raises(NotFittedError):
        loaded.crfsuite_labels(taobao["test_x"][:1])  # prediction needs no crfsuite: no binary was saved


def test_corrupted_weights_fail_to_load(model: CharCRFTagger, tmp_path: Path) -> None:
    path = Path(model.save(tmp_path / "crf")).resolve()
    weights = path / "crf.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError):
        CharCRFTagger.load(tmp_path / "crf")


def test_truncated_weights_with_a_matching_card_fail_to_load(model: CharCRFTagger, tmp_path: Path) -> None:
    """Checksums pass (the card was rewritten) but the file is not a weight file: still ModelLoadError."""
    from skutag.models.card import sha256_file

    path = Path(model.save(tmp_path / "crf")).resolve()
    weights = path / "crf.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    meta = json.loads((path / "meta.json").read_text())
    meta["files"]["crf.safetensors"] = sha256_file(weights)
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError):
        CharCRFTagger.load(tmp_path / "crf")


def _latin_rows(brands: list[str], items: list[str], colours: list[str]) -> tuple[list[str], list[list]]:
    texts, spans = [], []
    for brand, item, colour in itertools.product(brands, items, colours):
        text = f"{brand} {item} in {colour}, size M"
        b, c = text.index(brand), text.index(colour)
        texts.append(text)
        spans.append([("brand", b, b + len(brand)), ("colour", c, c + len(colour))])
    return texts, spans


def test_latin_script_text() -> None:
    texts, spans = _latin_rows(
        ["Nike", "Adidas", "Puma", "Reebok"],
        ["running shoe", "hoodie", "cap", "t-shirt"],
        ["red", "navy blue", "black"],
    )
    groups = ["shoes" if "shoe" in t else "apparel" for t in texts]
    model = CharCRFTagger(c1=0.01, c2=0.01, max_iterations=100).fit(texts, spans, groups=groups)
    assert model.schema_ == {"apparel": ["brand", "colour"], "shoes": ["brand", "colour"]}
    new, gold = _latin_rows(["Puma"], ["jacket"], ["green"])
    out = model.extract(new, groups=["apparel"])
    assert out == [{"brand": "Puma", "colour": "green"}]
    assert {(a, s, e) for a, s, e, _ in model.predict_spans(new)[0]} == set(gold[0])
    assert model.predict_spans(["", "x"])[0] == []  # empty text: no spans, no error
    narrow = CharCRFTagger(c1=0.01, c2=0.01, max_iterations=100).fit(
        texts, spans, groups=groups, schema={"apparel": ["colour"], "shoes": ["brand", "colour"]}
    )
    assert narrow.extract(new, groups=["apparel"]) == [{"colour": "green"}]  # the group's attributes only
    assert narrow.extract(new) == [{"brand": "Puma", "colour": "green"}]


def test_params_and_errors() -> None:
    model = CharCRFTagger(c1=0.3, c2=0.02, max_iterations=7, words=False)
    assert model.get_params() == {
        "c1": 0.3,
        "c2": 0.02,
        "max_iterations": 7,
        "window": 2,
        "bigrams": True,
        "words": False,
        "word_min_count": 2,
    }
    assert model.kind == "crf-extractor"
    with pytest.raises(ConfigError):
        model.fit(["红色连衣裙", "blue shirt"], [[], []])
    with pytest.raises(ConfigError):
        model.fit([], [])
    with pytest.raises(ConfigError):
        model.fit(["a"], [[], []])
    with pytest.raises(ConfigError):
        CharCRFTagger(c1=-1).fit(["红色连衣裙"], [[("colour", 0, 2)]])
    with pytest.raises(NotFittedError):
        model.predict_spans(["红色"])
    with pytest.raises(TypeError):
        CharCRFTagger(0.1)  # type: ignore[misc]  # keyword hyperparameters only


def test_script_detection() -> None:
    assert cjk_share(["红色连衣裙 XL"]) == pytest.approx(5 / 7)
    assert cjk_share(["Red dress, size 42"]) == 0.0
    assert cjk_share(["", "123 !!"]) == 0.0
    assert cjk_share(["ワンピース", "원피스"]) == 1.0
    assert needs_characters(["七雄争霸点卡", "iPhone 15 手机壳"])
    assert not needs_characters(["Apple iPhone 15 case", "Samsung Galaxy 红"])
