"""The extractor's CPU runtime: a saved extractor carries an ONNX graph and predicts through ONNX Runtime with the
same spans as torch; ``quantize`` runs an int8 copy; ``runtime="torch"`` writes and uses no graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skutag.errors import ConfigError
from skutag.models.neural.extractor import AttributeExtractor, span_f1
from skutag.models.neural.onnx import ONNX_FILE, TokenOnnxRunner
from test_extract_bio import _toy
from test_transformer_helpers import tiny_encoder


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[AttributeExtractor, Path]:
    tmp = tmp_path_factory.mktemp("ex")
    texts, spans = _toy()
    model = AttributeExtractor(
        encoder=tiny_encoder(tmp / "enc"), epochs=12, batch_size=8, head_lr=1e-2, encoder_lr=2e-3, num_threads=1,
        progress_bar=False,
    )  # fmt: skip
    model.fit(texts, spans, groups=["kettles"] * len(texts))
    model.save(tmp / "m")
    return model, tmp / "m"


def test_saved_graph_gives_torch_probabilities(fitted: tuple[AttributeExtractor, Path]) -> None:
    model, folder = fitted
    meta = json.loads((folder / "meta.json").read_text())
    assert ONNX_FILE in meta["files"]
    loaded = AttributeExtractor.load(folder)
    runner = loaded._onnx_runner()
    assert isinstance(runner, TokenOnnxRunner)
    texts, _ = _toy()
    ids, _ = model._encode(texts[:20], ["kettles"] * 20)
    import torch

    ref = model._probs(ids, model.net_, torch.device("cpu"))
    got = runner.probs(ids)
    assert all(a.shape == b.shape for a, b in zip(ref, got, strict=True))
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True)) < 1e-4
    a, b = loaded.predict_spans(texts[:20], ["kettles"] * 20), model.predict_spans(texts[:20], ["kettles"] * 20)
    assert [[s[:3] for s in row] for row in a] == [[s[:3] for s in row] for row in b]
    assert np.allclose([s[3] for row in a for s in row], [s[3] for row in b for s in row], atol=1e-5)


def test_quantized_runtime_still_tags(fitted: tuple[AttributeExtractor, Path]) -> None:
    _, folder = fitted
    loaded = AttributeExtractor.load(folder).set_params(quantize=True)
    texts, spans = _toy()
    assert span_f1(spans[:30], loaded.predict_spans(texts[:30], ["kettles"] * 30)) > 0.8
    assert loaded.get_params()["quantize"] is True


def test_torch_runtime_writes_no_graph(fitted: tuple[AttributeExtractor, Path], tmp_path: Path) -> None:
    model, _ = fitted
    model.set_params(runtime="torch")
    try:
        model.save(tmp_path / "t")
    finally:
        model.set_params(runtime="auto")
    assert not (tmp_path / "t" / ONNX_FILE).exists()
    loaded = AttributeExtractor.load(tmp_path / "t")
    assert loaded._onnx_runner() is None
    texts, _ = _toy()
    assert loaded.extract(texts[:5], ["kettles"] * 5) == model.extract(texts[:5], ["kettles"] * 5)


def test_bad_runtime_settings_are_config_errors(fitted: tuple[AttributeExtractor, Path]) -> None:
    model, _ = fitted
    with pytest.raises(ConfigError, match="runtime"):
        AttributeExtractor(runtime="tensorrt")
    with pytest.raises(ConfigError, match="quantize"):
        AttributeExtractor(runtime="torch", quantize=True)
    with pytest.raises(ConfigError, match="cannot set"):
        model.set_params(epochs=3)
