"""ONNX export and ONNX Runtime inference of TransformerModel: same paths as torch, written at save and used
after load (in a fresh process, without torch inference), corrupted graphs refused, int8 opt-in, fallbacks."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from skutag.errors import ConfigError, ModelLoadError
from skutag.models.card import sha256_file
from skutag.models.neural.onnx import ONNX_FILE, OnnxRunner, export_onnx
from skutag.models.neural.transformer import TransformerModel
from skutag.models.registry import load_model
from test_transformer_helpers import FAST_TRAINING, synthetic_catalogue, tiny_encoder


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> TransformerModel:
    encoder = tiny_encoder(tmp_path_factory.mktemp("enc"))
    texts, labels = synthetic_catalogue(240)
    logs = tmp_path_factory.mktemp("logs")
    return TransformerModel(encoder=encoder, num_threads=1, log_dir=str(logs), **FAST_TRAINING).fit(texts, labels)


@pytest.fixture(scope="module")
def saved(fitted: TransformerModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fitted.save(tmp_path_factory.mktemp("models") / "m")


def _probs(model: TransformerModel, texts: pd.DataFrame, runtime: str, quantize: bool = False) -> np.ndarray:
    old = model.runtime, model.quantize
    model.runtime, model.quantize = runtime, quantize
    try:
        return model.predict_path_proba(texts)
    finally:
        model.runtime, model.quantize = old


def test_onnx_matches_torch(fitted: TransformerModel) -> None:
    texts, _ = synthetic_catalogue(60, seed=7)
    texts.loc[3, "title"] = "a much longer title than the others " * 3  # uneven lengths: padding and reordering
    torch_p = _probs(fitted, texts, "torch")
    onnx_p = _probs(fitted, texts, "onnx")
    assert onnx_p.shape == torch_p.shape
    np.testing.assert_array_equal(onnx_p.argmax(1), torch_p.argmax(1))
    assert np.abs(onnx_p - torch_p).max() < 1e-4
    assert fitted.onnx_state_["runner"].session.get_providers() == ["CPUExecutionProvider"]


def test_export_is_fused_and_batch_independent(fitted: TransformerModel, tmp_path: Path) -> None:
    import onnx

    data = export_onnx(fitted, tmp_path / "g.onnx", optimize=True)
    assert (tmp_path / "g.onnx").read_bytes() == data
    ops = {n.op_type for n in onnx.load_from_string(data).graph.node}
    assert "Attention" in ops  # ORT's transformer optimizer fused the attention blocks
    plain = {n.op_type for n in onnx.load_from_string(export_onnx(fitted)).graph.node}
    assert "Attention" not in plain and "MatMul" in plain
    runner = OnnxRunner(data, threads=1, n_levels=2)
    ids = fitted.tokenizer_(["hammer new", "apple cheap apple item 3", "drill"])["input_ids"]
    together = runner.logits(ids, batch_size=8)
    alone = [runner.logits([s], batch_size=1) for s in ids]
    for lv in range(2):
        np.testing.assert_allclose(together[lv], np.concatenate([a[lv] for a in alone]), atol=1e-4)


def test_save_writes_graph_in_model_card(saved: Path) -> None:
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["files"][ONNX_FILE] == sha256_file(saved / ONNX_FILE)
    config = json.loads((saved / "transformer.json").read_text())
    assert config["onnx"]["file"] == ONNX_FILE


def test_fresh_process_uses_onnx_runtime(fitted: TransformerModel, saved: Path, tmp_path: Path) -> None:
    texts, _ = synthetic_catalogue(40, seed=8)
    texts.to_csv(tmp_path / "in.csv", index=False)
    script = textwrap.dedent(
        f"""
        import numpy as np, pandas as pd
        from skutag.models import load_model
        model = load_model({str(saved)!r})
        def no_torch(*args, **kwargs):
            raise AssertionError("torch inference used")
        model._logits = no_torch
        probs = model.predict_path_proba(pd.read_csv({str(tmp_path / "in.csv")!r}))
        np.save({str(tmp_path / "out.npy")!r}, probs)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    probs = np.load(tmp_path / "out.npy")
    reference = _probs(fitted, texts, "torch")
    np.testing.assert_array_equal(probs.argmax(1), reference.argmax(1))
    assert np.abs(probs - reference).max() < 1e-4


def test_corrupted_graph_refused(saved: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in saved.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    graph = bad / ONNX_FILE
    graph.write_bytes(graph.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match="checksum"):
        load_model(bad)
    # a broken graph whose checksum was updated too: ONNX Runtime refuses it at load
    graph.write_bytes(b"not an onnx graph")
    meta = json.loads((bad / "meta.json").read_text())
    meta["files"][ONNX_FILE] = sha256_file(graph)
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="ONNX Runtime"):
        load_model(bad)
    (bad / ONNX_FILE).unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(bad)


def test_torch_runtime_writes_no_graph(fitted: TransformerModel, tmp_path: Path) -> None:
    model = copy.copy(fitted)
    model.runtime = "torch"
    model.save(tmp_path / "m")
    assert not (tmp_path / "m" / ONNX_FILE).exists()
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, TransformerModel) and loaded.runtime == "torch"
    assert "onnx_state_" not in loaded.__dict__
    texts, labels = synthetic_catalogue(40)
    with pytest.raises(ConfigError, match="runtime"):
        TransformerModel(runtime="tensorrt").fit(texts, labels)


def test_new_network_gets_a_new_graph(fitted: TransformerModel) -> None:
    """A refit (here: a changed head) never runs on a graph exported from the previous network."""
    import torch

    model = copy.copy(fitted)
    model.__dict__.pop("onnx_state_", None)
    texts, _ = synthetic_catalogue(20, seed=9)
    before = _probs(model, texts, "onnx")
    model.net_ = copy.deepcopy(fitted.net_)
    with torch.no_grad():
        model.net_.heads.heads[1].bias[0] += 50.0  # every row now prefers level-2 class 0
    after = _probs(model, texts, "onnx")
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, _probs(model, texts, "torch"), atol=1e-4)


def test_int8_is_opt_in_and_close(fitted: TransformerModel) -> None:
    texts, _ = synthetic_catalogue(60, seed=10)
    fp32 = _probs(fitted, texts, "onnx")
    int8 = _probs(fitted, texts, "onnx", quantize=True)
    assert fitted.onnx_state_["key"][1] is True and "int8" in fitted.onnx_state_
    np.testing.assert_allclose(int8.sum(axis=1), 1.0, atol=1e-6)
    assert not np.array_equal(int8, fp32)  # really a different (quantised) graph
    assert np.abs(int8 - fp32).max() < 0.2
    assert (int8.argmax(1) == fp32.argmax(1)).mean() >= 0.9


def test_in_memory_graph_exported_once(fitted: TransformerModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """runtime='onnx' on an unsaved model exports once; a new thread count only rebuilds the session."""
    import skutag.models.neural.transformer as transformer_module

    calls = []

    def counting_export(model: TransformerModel) -> bytes:
        calls.append(1)
        return export_onnx(model)

    monkeypatch.setattr(transformer_module, "export_onnx", counting_export)
    model = copy.copy(fitted)  # its own attributes: set_params below leaves the fixture's threads alone
    model.__dict__.pop("onnx_state_", None)
    texts, _ = synthetic_catalogue(10, seed=11)
    first = _probs(model, texts, "onnx")
    model.set_params(num_threads=2)
    second = _probs(model, texts, "onnx")
    assert len(calls) == 1
    assert model.onnx_state_["runner"].threads == 2
    np.testing.assert_allclose(first, second, atol=1e-6)
