"""The linear model's one-title fast path: ``predict_one`` (a string or a dict of fields, no pandas) gives exactly
``predict_scored`` / ``predict_topk`` on a one-row frame, on real MWPD rows and awkward texts; clear errors on bad
input; the generic ``predict_one`` of other kinds; the server's one-product tagging through it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skutag.datasets.paths import find_shared_data
from skutag.errors import InputError, MissingColumnError, NotFittedError
from skutag.models.base import TopK
from skutag.models.ensemble import EnsembleModel
from skutag.models.linear.model import LinearModel
from skutag.models.linear.one_row import add_row_product, field_features
from skutag.models.linear.sparse_kernels import add_sparse_product
from test_model_data import labels_of, synthetic

#: title, description (long: words of its first 300 characters), shop category, URL (URL words)
COLUMNS = ["Name", "Description", "CategoryText", "URL"]
LEVELS = ["lvl1", "lvl2", "lvl3"]
N_TRAIN = 1000
N_CHECKED = 300
AWKWARD = [
    "",
    "   ",
    "!!! --- ???",
    "Ünïcödé ÇAFÉ crème brûlée",
    "苹果 iPhone 13 Pro 手机壳",
    "a\x00b nul inside",
    "sep\x01inside the\x01text",
    "tabs\tand\nnewlines\r\nin a title",
    "x" * 100 + " a word longer than 64 characters",
    "ΟΔΟΣ ΣΊΣΥΦΟΣ final sigma",
    "Samsung Galaxy S10 128GB (Prism Black) - Unlocked, 6.1'' display",
]


def _records(frame: pd.DataFrame) -> list[dict[str, str | None]]:
    """Rows as dicts of their text fields, missing values as None."""
    values = frame[COLUMNS].astype(object).where(frame[COLUMNS].notna(), None)
    return [dict(zip(COLUMNS, row, strict=True)) for row in values.itertuples(index=False, name=None)]


@pytest.fixture(scope="module")
def mwpd() -> tuple[LinearModel, pd.DataFrame]:
    root = find_shared_data()
    if root is None or not (root / "mwpd2020" / "train.json").is_file():
        pytest.skip("shared MWPD data absent")
    train = pd.read_json(root / "mwpd2020" / "train.json", lines=True, nrows=N_TRAIN, dtype=False)
    valid = pd.read_json(root / "mwpd2020" / "validation.json", lines=True, nrows=N_CHECKED, dtype=False)
    texts = train.reindex(columns=COLUMNS)
    labels = train[LEVELS].set_axis(["level_1", "level_2", "level_3"], axis=1)
    model = LinearModel(n_jobs=1, calibration_max_rows=400).fit(texts, labels)  # two calibration folds
    assert [c.word is not None and c.char is None for c in model.vectorizer_.fields.values()] == [
        False,
        True,
        False,
        True,
    ]  # title and shop category with char n-grams, the long description and the URL with words only
    assert model.vectorizer_.fields["Description"].max_chars > 0
    return model, valid.reindex(columns=COLUMNS)


def _same(a: TopK, b: TopK) -> None:
    assert a.paths == b.paths
    np.testing.assert_array_equal(a.scores, b.scores)
    if b.level_scores is None:
        assert a.level_scores is None
    else:
        assert a.level_scores is not None
        np.testing.assert_array_equal(a.level_scores, b.level_scores)


def test_predict_one_is_predict_on_real_mwpd_rows(mwpd: tuple[LinearModel, pd.DataFrame]) -> None:
    """Bit for bit: the same features, scores and decoding as a one-row frame; and the batch's paths."""
    model, valid = mwpd
    records = _records(valid)
    records[::7] = [{**r, "Description": None, "URL": ""} for r in records[::7]]  # missing and empty fields
    for record in records:
        frame = pd.DataFrame([record], columns=COLUMNS)
        _same(model.predict_one(record, k=3, levels=True), model.predict_scored(frame, k=3))
        _same(model.predict_one(record, k=5), model.predict_topk(frame, k=5))
        _same(model.predict_one(record), model.predict_topk(frame, k=1))
    batch = model.predict(pd.DataFrame(records, columns=COLUMNS))
    one = [model.predict_one(r).paths[0][0] for r in records]
    assert one == [tuple(v for v in row if v is not None) for row in batch.itertuples(index=False, name=None)]
    np.testing.assert_allclose(
        [model.predict_one(r).scores[0, 0] for r in records],
        model.predict_topk(pd.DataFrame(records, columns=COLUMNS), k=1).scores[:, 0],
        rtol=1e-5,
    )


def test_predict_one_of_a_title_and_awkward_texts(mwpd: tuple[LinearModel, pd.DataFrame]) -> None:
    """A plain string is the title (the other fields empty), as predict() of a list takes it."""
    model, valid = mwpd
    long = [" ".join(valid["Name"].head(40)), " ".join(valid["Name"].iloc[40:60])]
    vec = model.vectorizer_.vectorizers["Name"]
    assert len(field_features(vec, long[0])[0]) * 16 > model.coef_.shape[0]  # the batch kernel sums by feature
    titles = [t for t in valid["Name"].head(50)] + long + AWKWARD
    for title in titles:
        frame = pd.DataFrame([{c: title if c == "Name" else "" for c in COLUMNS}])
        _same(model.predict_one(title, k=3, levels=True), model.predict_scored(frame, k=3))
        assert model.predict_one(title).paths[0][0] == tuple(model.predict([title]).iloc[0].dropna())
    for text in AWKWARD:  # every field, each with its own n-gram settings
        record = dict.fromkeys(COLUMNS, text)
        _same(model.predict_one(record, k=2, levels=True), model.predict_scored(pd.DataFrame([record]), k=2))


def test_one_row_features_are_the_batch_features(mwpd: tuple[LinearModel, pd.DataFrame]) -> None:
    """Each field's compiled one-text features equal the batch vectoriser's row (same columns, values and order), and
    the one-row product the batch kernel's."""
    model, valid = mwpd
    texts = [t if isinstance(t, str) else "" for t in valid["Description"].head(40)] + AWKWARD
    for name, vec in model.vectorizer_.vectorizers.items():
        for text in texts:
            triples = vec.transform_triples([text])
            cols = np.concatenate([t[1] for t in triples]) if triples else np.zeros(0, np.int64)
            data = np.concatenate([t[2] for t in triples]) if triples else np.zeros(0, np.float32)
            got_cols, got_data = field_features(vec, text)
            np.testing.assert_array_equal(got_cols, cols, err_msg=f"{name}: {text!r}")
            np.testing.assert_array_equal(got_data, data, err_msg=f"{name}: {text!r}")
            a = np.zeros((1, model.coef_.shape[1]), np.float32)
            b = np.zeros_like(a)
            add_sparse_product(a, np.zeros(len(cols), np.int64), cols, data, model.coef_)
            add_row_product(b[0], got_cols, got_data, model.coef_)
            np.testing.assert_array_equal(a, b, err_msg=f"{name}: {text!r}")


@pytest.fixture(scope="module")
def small() -> LinearModel:
    train = synthetic(300, seed=1)
    return LinearModel(n_jobs=1).fit(train[["title", "shop_category"]], labels_of(train))


def test_predict_one_on_bad_input(small: LinearModel) -> None:
    with pytest.raises(InputError, match=r"'title'.*int 7, not a string"):
        small.predict_one({"title": 7})
    with pytest.raises(InputError, match=r"'shop_category'.*float nan"):
        small.predict_one({"title": "gala apple", "shop_category": math.nan})
    with pytest.raises(InputError, match=r"title \(str\) or a mapping.*not list"):
        small.predict_one(["gala apple"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not bytes"):
        small.predict_one(b"gala apple")  # type: ignore[arg-type]
    with pytest.raises(MissingColumnError, match="none of the model's text columns"):
        small.predict_one({"name": "gala apple"})
    with pytest.raises(NotFittedError):
        LinearModel().predict_one("gala apple")
    # a missing or None field is empty; fields the model does not read are ignored
    expected = small.predict_scored(pd.DataFrame({"title": ["gala apple"], "shop_category": [""]}), k=2)
    for product in ({"title": "gala apple"}, {"title": "gala apple", "shop_category": None, "brand": 3}):
        _same(small.predict_one(product, k=2, levels=True), expected)
    assert small.predict_one("gala apple").paths[0][0] == ("Food", "Fruit", "Apples")


def test_generic_predict_one_of_other_kinds(small: LinearModel) -> None:
    """A kind without a fast path answers through a one-row frame: the same as its predict_topk/predict_scored."""
    ens = EnsembleModel.from_members([small])
    ens.build_neighbours(*_frame_and_labels(synthetic(120, seed=3)))
    product = {"title": "Chess Board Game", "shop_category": "games"}
    frame = pd.DataFrame([product])
    _same(ens.predict_one(product, k=3, levels=True), ens.predict_scored(frame, k=3))
    _same(ens.predict_one("chess"), ens.predict_topk(["chess"], k=1))
    with pytest.raises(InputError, match="'title'"):
        ens.predict_one({"title": 1.5})


def _frame_and_labels(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return df[["title", "shop_category"]], labels_of(df)


def test_tagger_tags_one_product_through_predict_one(
    small: LinearModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's one-product answer comes from predict_one and is the answer it gave through a frame."""
    from skutag.serving.tagger import Tagger, load_served_model

    small.save(tmp_path / "m")
    served = load_served_model(tmp_path / "m", target_precision=0.9, threshold=0.5)
    tagger = Tagger(served, top_k=3)
    products = [
        {"id": "a", "name": "Gala Apple Pack", "shop_category": "fruit"},
        {"id": "b", "title": "Frying Pan Large"},
        {"id": "c", "name": "苹果 特价", "description": "ignored"},
    ]
    model = served.model
    calls: list[str] = []
    real = model.predict_one
    monkeypatch.setattr(model, "predict_one", lambda *a, **k: calls.append("one") or real(*a, **k))
    one = [tagger.tag([p])[0] for p in products]
    assert calls == ["one"] * 3
    monkeypatch.setattr(model, "predict_one", lambda *a, **k: pytest.fail("a batch goes through predict_scored"))
    batch = tagger.tag(products)
    for a, b in zip(one, batch, strict=True):
        assert (a.external_id, a.path, a.decision) == (b.external_id, b.path, b.decision)
        assert [t["path"] for t in a.topk] == [t["path"] for t in b.topk]
        assert a.path_score == pytest.approx(b.path_score, abs=2e-6)
        assert a.level_scores == pytest.approx(b.level_scores, abs=2e-6)
