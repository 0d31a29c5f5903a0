"""Constrained BIO decoding: schema masks, valid transitions, word-piece consistency, probability scores;
and the extractor's category-aware pair input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skutag.extraction.bio import decode, label_names
from skutag.extraction.decoding import continues_word, label_mask, viterbi_decode
from skutag.models.card import sha256_file
from skutag.models.neural.extractor import AttributeExtractor
from test_transformer_helpers import tiny_encoder

NAMES = label_names(["Brand", "Color"])  # O, B-Brand, I-Brand, B-Color, I-Color


def _probs(rows: list[dict[str, float]]) -> np.ndarray:
    """Token x label probabilities from {label: p} (the rest spread over the other labels)."""
    out = np.zeros((len(rows), len(NAMES)))
    for i, row in enumerate(rows):
        rest = (1 - sum(row.values())) / (len(NAMES) - len(row))
        out[i] = [row.get(n, rest) for n in NAMES]
    return out


def test_mask_moves_the_decision_to_an_allowed_attribute() -> None:
    text = "acme red"
    offsets = [(0, 4), (5, 8)]
    probs = _probs([{"B-Brand": 0.6}, {"B-Brand": 0.45, "B-Color": 0.4}])
    # argmax tags "red" as a Brand; a row whose schema has Color only keeps the value as Color
    assert [a for a, *_ in decode(probs, offsets, NAMES)] == ["Brand", "Brand"]
    spans = viterbi_decode(probs, offsets, NAMES, label_mask(NAMES, ["Color"]), text)
    assert [(a, s, e) for a, s, e, _ in spans] == [("Color", 5, 8)]
    assert 0.0 <= spans[0][3] <= 1.0
    assert label_mask(NAMES, None).all() and label_mask(NAMES, []).all()


def test_inside_label_needs_a_begin_of_the_same_attribute() -> None:
    offsets = [(0, 4), (5, 9)]
    probs = _probs([{"O": 0.5, "B-Brand": 0.4}, {"I-Brand": 0.7}])
    # argmax: O then a stray I-Brand (a span from the middle); Viterbi: one Brand span over both words
    assert [(a, s, e) for a, s, e, _ in decode(probs, offsets, NAMES)] == [("Brand", 5, 9)]
    assert [(a, s, e) for a, s, e, _ in viterbi_decode(probs, offsets, NAMES)] == [("Brand", 0, 9)]


def test_word_pieces_share_their_words_label() -> None:
    text = "zenithx kettle"
    offsets = [(0, 6), (6, 7), (8, 14)]  # zenith ##x kettle
    assert continues_word(text, 6, 6) and not continues_word(text, 7, 8) and not continues_word(None, 6, 6)
    probs = _probs([{"B-Brand": 0.8}, {"O": 0.6, "I-Brand": 0.3}, {"O": 0.9}])
    assert [(a, s, e) for a, s, e, _ in viterbi_decode(probs, offsets, NAMES, text=text)] == [("Brand", 0, 7)]
    # without the text the rule is off and the value is cut mid-word
    assert [(a, s, e) for a, s, e, _ in viterbi_decode(probs, offsets, NAMES)] == [("Brand", 0, 6)]


def test_special_tokens_are_skipped_and_empty_rows_decode_to_nothing() -> None:
    offsets = [(0, 0), (0, 4), (0, 0)]
    probs = _probs([{"B-Color": 0.9}, {"B-Brand": 0.9}, {"I-Color": 0.9}])
    assert [a for a, *_ in viterbi_decode(probs, offsets, NAMES)] == ["Brand"]
    assert viterbi_decode(probs, [(0, 0)] * 3, NAMES) == []


def test_category_prefix_is_never_labelled_and_options_round_trip(tmp_path: Path) -> None:
    enc = tiny_encoder(tmp_path / "enc")
    texts = ["acme kettle in red colour", "orbit kettle in blue colour"] * 4
    spans = [[("Brand", 0, 4), ("Color", 16, 19)], [("Brand", 0, 5), ("Color", 16, 20)]] * 4
    defaults = AttributeExtractor().get_params()
    assert defaults["input_prefix"] == "category" and defaults["prefix_dropout"] == 0.2
    model = AttributeExtractor(
        encoder=enc, epochs=1, batch_size=4, num_threads=1, progress_bar=False, input_prefix="attributes"
    )
    assert model.get_params()["decoding"] == "viterbi"
    model.fit(texts, spans, groups=["kettles"] * len(texts))
    assert model._prefix("kettles") == "kettles: Brand, Color"
    ids, offsets = model._encode(texts[:1], ["kettles"])
    plain, _ = model._encode(texts[:1])
    assert len(ids[0]) > len(plain[0])  # the prefix segment is there ...
    body = [o for o in offsets[0] if o[0] < o[1]]
    assert body and all(texts[0][s:e].strip() for s, e in body)  # ... and only text tokens carry offsets
    pred = model.predict_spans(texts[:2], groups=["kettles"] * 2)
    assert all(0.0 <= sc <= 1.0 and a in {"Brand", "Color"} for row in pred for a, _, _, sc in row)
    model.save(tmp_path / "m")
    loaded = AttributeExtractor.load(tmp_path / "m")
    assert loaded.get_params()["input_prefix"] == "attributes"
    got = loaded.predict_spans(texts[:2], groups=["kettles"] * 2)  # ONNX Runtime: the same spans, scores to 1e-5
    assert [[s[:3] for s in row] for row in got] == [[s[:3] for s in row] for row in pred]
    assert np.allclose([s[3] for row in got for s in row], [s[3] for row in pred for s in row], atol=1e-5)
    config = json.loads((tmp_path / "m" / "extractor.json").read_text("utf-8"))
    del config["params"]["input_prefix"]  # as saved before prefixes existed: bare text
    (tmp_path / "m" / "extractor.json").write_text(json.dumps(config), "utf-8")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text("utf-8"))
    meta["files"]["extractor.json"] = sha256_file(tmp_path / "m" / "extractor.json")
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta), "utf-8")
    assert AttributeExtractor.load(tmp_path / "m").options["input_prefix"] == "none"
    with pytest.raises(Exception, match="decoding"):
        AttributeExtractor(decoding="beam")
    with pytest.raises(Exception, match="prefix_dropout"):
        AttributeExtractor(prefix_dropout=2)
