"""Attribute extraction: spans <-> BIO labels, decoding, PAVE examples, metrics, the extractor end to end,
and the clear refusal of Chinese text under the English vocabulary."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from skutag.errors import ConfigError, ModelLoadError
from skutag.extraction import pave_examples, score_extractions
from skutag.extraction.bio import decode, find_spans, label_names, token_labels
from skutag.models.neural.extractor import AttributeExtractor, span_f1
from test_transformer_helpers import tiny_encoder


def test_find_spans_respects_word_edges() -> None:
    assert find_spans("HP Xeon 2.0GHz xeon", "Xeon") == [(3, 7), (15, 19)]
    assert find_spans("XER106R01409 and 106R01409", "106R01409") == [(17, 26)]
    assert find_spans("anything", " ") == []


def test_token_labels_and_decode_round_trip() -> None:
    names = label_names(["Brand", "Speed"])
    index = {n: i for i, n in enumerate(names)}
    offsets = [(0, 0), (0, 2), (3, 7), (8, 11), (11, 14), (0, 0)]  # [CLS] HP Xeon 2.0 GHz [SEP]
    spans = [("Brand", 0, 2), ("Speed", 8, 14)]
    labels = token_labels(offsets, spans, index)
    assert [names[i] if i >= 0 else "-" for i in labels] == ["-", "B-Brand", "O", "B-Speed", "I-Speed", "-"]
    probs = np.full((6, len(names)), 0.01)
    for i, lab in enumerate(labels):
        probs[i, max(lab, 0)] = 0.9
    decoded = decode(probs, offsets, names)
    assert [(a, s, e) for a, s, e, _ in decoded] == spans


def test_metrics_count_like_wdc_pave() -> None:
    gold = [{"Brand": ["HP"], "Speed": ["2.0GHz"], "Color": []}, {"Brand": ["Dell"], "Color": []}]
    pred = [{"Brand": "hp", "Speed": "3.0GHz", "Color": "red"}, {}]
    r = score_extractions(gold, pred)
    # tp: Brand(1); fp: Speed wrong, Color where n/a; fn: Speed wrong, Brand missing in row 2
    assert r.counts == {"tp": 1, "fp": 2, "fn": 2}
    assert r.precision == pytest.approx(1 / 3) and r.recall == pytest.approx(1 / 3)
    table = r.per_attribute.set_index("attribute")
    assert table.loc["Brand", "recall"] == 0.5 and table.loc["Color", "precision"] == 0.0


def _shared() -> Path:
    return Path(os.environ.get("SKUTAG_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def test_pave_examples_have_verbatim_spans() -> None:
    path = _shared() / "wdc-pave" / "raw" / "test.jsonl"
    if not path.is_file():
        pytest.skip("shared WDC-PAVE data not available")
    from skutag.datasets.pave import load_pave

    df, _ = load_pave(path=path)
    examples = pave_examples(df)
    assert len(examples) == len(df) == 354
    values = [(ex, v) for ex in examples for vals in ex.gold.values() for v in vals]
    found = sum(bool(find_spans(ex.text, v)) for ex, v in values)
    assert found / len(values) > 0.95
    assert all(ex.text.startswith(ex.text[: ex.title_length]) for ex in examples)


def _toy() -> tuple[list[str], list[list[tuple[str, int, int]]]]:
    brands, colors = ["acme", "zenith", "orbit"], ["red", "blue", "green"]
    texts, spans = [], []
    for i in range(90):
        b, c = brands[i % 3], colors[(i // 3) % 3]
        t = f"{b} kettle in {c} colour"
        texts.append(t)
        spans.append([("Brand", 0, len(b)), ("Color", t.index(c), t.index(c) + len(c))])
    return texts, spans


def test_extractor_learns_toy_spans_and_round_trips(tmp_path: Path) -> None:
    enc = tiny_encoder(tmp_path / "enc")
    texts, spans = _toy()
    model = AttributeExtractor(
        encoder=enc, epochs=12, batch_size=8, head_lr=1e-2, encoder_lr=2e-3, num_threads=1, progress_bar=False
    )
    model.fit(texts, spans, groups=["kettles"] * len(texts))
    pred = model.predict_spans(texts[:30], groups=["kettles"] * 30)
    assert span_f1(spans[:30], pred) > 0.8
    got = model.extract(texts[:3], groups=["kettles"] * 3)
    assert got[0] == {"Brand": "acme", "Color": "red"}
    model.save(tmp_path / "x")
    loaded = AttributeExtractor.load(tmp_path / "x")
    assert loaded.extract(texts[:10], groups=["kettles"] * 10) == model.extract(texts[:10], groups=["kettles"] * 10)
    (tmp_path / "x" / "extractor.json").write_text("{}")
    with pytest.raises(ModelLoadError):
        AttributeExtractor.load(tmp_path / "x")


def test_chinese_under_english_vocabulary_is_refused(tmp_path: Path) -> None:
    enc = tiny_encoder(tmp_path / "enc")
    texts = ["华为手机壳防摔硅胶套", "小米充电宝大容量移动电源"] * 20
    spans = [[("HPPX", 0, 2)]] * 40
    model = AttributeExtractor(encoder=enc, epochs=1, progress_bar=False)
    assert model.unknown_rate(texts) > 0.3
    with pytest.raises(ConfigError, match="not supported"):
        model.fit(texts, spans)
    assert model.unknown_rate(["stainless steel kettle"]) == 0.0


def test_taobao_frame_round_trips_through_bio_and_is_refused(tmp_path: Path) -> None:
    """Real Taobao NER (dev): the parsed frame's entities are the title's own characters, its spans give back the
    file's BIO tags character for character (and decode back to the spans), and the English vocabulary maps about
    65% of those titles' tokens to [UNK], so the extractor refuses them."""
    path = _shared() / "taobao-ner-zh" / "dev.txt"
    if not path.is_file():
        pytest.skip("shared Taobao NER data not available")
    from skutag.datasets.taobao import load_taobao

    sentences, df = load_taobao(path=path)
    assert len(df) == len(sentences) == 998
    assert list(df.columns[:3]) == ["title", "entities", "entity_types"]
    assert df["title"].tolist() == ["".join(chars) for chars, _ in sentences]
    names = label_names(["HCCX", "HPPX", "MISC", "XH"])
    index = {n: i for i, n in enumerate(names)}
    spans = []
    for (chars, tags), title, ents, types in zip(
        sentences, df["title"], df["entities"], df["entity_types"], strict=True
    ):
        assert all(title[e["start"] : e["end"]] == e["text"] != "" for e in ents)
        assert types == sorted({e["type"] for e in ents})
        row = [(e["type"], e["start"], e["end"]) for e in ents]
        offsets = [(i, i + 1) for i in range(len(chars))]  # one token per character
        labels = token_labels(offsets, row, index)
        assert [names[i] for i in labels] == tags
        assert [(a, s, e) for a, s, e, _ in decode(np.eye(len(names))[labels], offsets, names)] == row
        spans.append(row)
    assert sum(map(len, spans)) > 4000
    titles = df["title"].tolist()
    model = AttributeExtractor(encoder=tiny_encoder(tmp_path / "enc"), epochs=1, progress_bar=False)
    assert 0.55 < model.unknown_rate(titles) < 0.75
    with pytest.raises(ConfigError, match="not supported"):
        model.fit(titles, spans)
