"""Integrated Gradients on a tiny random encoder fine-tuned on a synthetic catalogue: completeness (attributions add
up to F(text) - F(baseline) within the reported delta), spans point into the text, every method runs."""

from __future__ import annotations

import pytest

from test_transformer_helpers import FAST_TRAINING, synthetic_catalogue, tiny_encoder

pytest.importorskip("captum")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> object:
    from skutag.models.neural.transformer import TransformerModel

    enc = tiny_encoder(tmp_path_factory.mktemp("enc"))
    texts, labels = synthetic_catalogue(120)
    params = {**FAST_TRAINING, "epochs": 2}
    return TransformerModel(encoder=enc, num_threads=1, runtime="torch", knn=0, **params).fit(texts, labels)


def test_ig_completeness_within_delta(model: object) -> None:
    import pandas as pd

    from skutag.explain.gradients import gradient_spans
    from skutag.explain.scoring import best_paths
    from skutag.explain.spans import tokens

    for title in ["fresh apple from the farm", "cordless drill 18V", "aged cheese wheel"]:
        texts = [title]
        path = best_paths(model, pd.DataFrame({"title": texts}))[0]  # type: ignore[arg-type]
        toks = tokens(texts, ["title"])
        spans, delta, diff, rest = gradient_spans(model, texts, toks, path, "ig", steps=64)
        assert delta is not None
        total = sum(s.weight for s in spans) + rest
        assert abs(total - diff - delta) < 1e-4  # captum's delta: sum of attributions - (F(x) - F(baseline))
        assert abs(delta) <= 0.05 * max(1.0, abs(diff))
        for s in spans:
            assert title[s.start : s.end] == s.text


def test_every_transformer_method(model: object) -> None:
    import pandas as pd

    from skutag.explain import explain, methods_for

    rows = pd.DataFrame({"title": ["ripe banana", "hammer and pliers"]})
    assert methods_for(model)[0] == "erasure"  # type: ignore[arg-type]
    for method in ("ig", "gradient", "occlusion", "erasure"):
        found = explain(model, rows, method=method)  # type: ignore[arg-type]
        assert [len(ex.spans) for ex in found] == [2, 3]
        assert all(ex.method == method for ex in found)
        assert (found[0].delta is not None) == (method == "ig")
