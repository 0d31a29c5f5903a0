"""`skutag compress` with dynamic int8 keeps the fp32 model's answer: a MiniLM fine-tuned on a real MWPD slice and
compressed through the command gives fp32's top-1 path on at least 97% of a few hundred real validation titles.

The model is small but real: the packaged all-MiniLM-L6-v2 with its first of six layers kept (its weights, with the
activation outliers that make int8 hard, not a random encoder), fine-tuned three epochs on 500 MWPD training offers
with lvl1 / lvl2 labels; no neighbour votes (they would mask what the graph's rounding does to the heads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from skutag.cli.main import app
from skutag.models.neural.edge import EdgeTransformer
from skutag.models.neural.transformer import TransformerModel
from skutag.models.registry import load_model

LABELS = ["lvl1", "lvl2"]
N_TRAIN = 500
N_VALID = 400
#: issue 20: a quantised model's top-1 agrees with fp32 on >= 97% of a real slice
MIN_AGREEMENT = 0.97


def _mwpd(split: str, n: int) -> pd.DataFrame:
    from skutag.datasets.paths import shared_data_dir

    path = shared_data_dir() / "mwpd2020" / f"{split}.json"
    if not path.is_file():
        pytest.skip("shared data not found")
    return pd.read_json(path, lines=True, nrows=n).fillna("").astype({c: str for c in ["Name", *LABELS]})


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    train = _mwpd("train", N_TRAIN)
    model = TransformerModel(
        encoder_layers=1,
        knn=0,
        epochs=3,
        batch_size=32,
        max_length=24,
        encoder_lr=1e-4,
        head_lr=4e-3,
        patience=4,
        num_threads=2,
        progress_bar=False,
    )
    model.fit(train[["Name"]], train[LABELS].set_axis(["level_1", "level_2"], axis=1))
    return model.save(tmp_path_factory.mktemp("agreement") / "fp32")


def test_dynamic_int8_keeps_the_top1_path_on_real_titles(fine_tuned: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8"
    res = CliRunner().invoke(app, ["compress", str(fine_tuned), "--out", str(out), "--int8", "dynamic"])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "edge"
    titles = _mwpd("validation", N_VALID)[["Name"]]
    fp32 = EdgeTransformer.load(fine_tuned).predict_path_proba(titles)
    int8_model = load_model(out)
    assert isinstance(int8_model, EdgeTransformer) and int8_model.int8_scheme_ == "dynamic"
    int8 = int8_model.predict_path_proba(titles)
    assert fp32.shape == int8.shape == (N_VALID, len(int8_model.path_names()))
    agreement = float((fp32.argmax(1) == int8.argmax(1)).mean())
    assert agreement >= MIN_AGREEMENT, f"int8 keeps fp32's top-1 path on {agreement:.1%} of {N_VALID} titles"
    # it is int8 (smaller, and not fp32's answers to the last digit), and the model is not guessing
    assert (out / "model.onnx").stat().st_size < 0.6 * (fine_tuned / "model.onnx").stat().st_size
    assert float(np.abs(fp32 - int8).max()) > 1e-6
    names = int8_model.path_names()
    truth = [tuple(r) for r in _mwpd("validation", N_VALID)[LABELS].itertuples(index=False)]
    assert np.mean([names[i] == t for i, t in zip(fp32.argmax(1), truth, strict=True)]) > 0.3
    # int8 ranges each row's activations alone: each title alone gets exactly what it got among the others (ORT's
    # per-tensor ranges moved 1.2% of MWPD titles to another path between one batch and one title a call)
    graph = (out / "model.onnx").read_bytes()
    assert b"DynamicQuantizeLinear" not in graph and b"MatMulInteger" in graph
    # (float rounding of the padded batch aside: ~1e-7, as fp32; per-tensor ranges moved probabilities by up to 0.3)
    alone = np.vstack([int8_model.predict_path_proba(titles.iloc[i : i + 1]) for i in range(0, N_VALID, 7)])
    assert np.abs(alone - int8[::7]).max() < 1e-5 and (alone.argmax(1) == int8[::7].argmax(1)).all()


def test_a_per_tensor_int8_graph_runs_one_row_a_call(fine_tuned: Path) -> None:
    """A graph ORT quantised itself (per-tensor activation ranges, as compressed before the per-row rewrite) is fed
    one row a call, so its answers do not depend on the batch either; the rewrite removes what makes it needed."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from skutag.models.neural.int8_rows import per_row_activations
    from skutag.models.neural.runtime import OnnxRunner

    src = fine_tuned / "model.onnx"
    old = src.with_name("per-tensor.onnx")
    quantize_dynamic(str(src), str(old), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    n_levels = len(LABELS)
    assert OnnxRunner(old, 1, n_levels).row_wise
    assert not OnnxRunner(per_row_activations(old.read_bytes()), 1, n_levels).row_wise
    assert not OnnxRunner(src, 1, n_levels).row_wise  # fp32: batches as before


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``skutag train --model ensemble`` on the same real slice: the linear model and the one-layer MiniLM (with its
    neighbour votes, which the ensemble's hybrid index takes over) blended."""
    folder = tmp_path_factory.mktemp("ensemble")
    train = folder / "train.jsonl"
    _mwpd("train", N_TRAIN).to_json(train, orient="records", lines=True)
    tf = {"encoder_layers": 1, "epochs": 3, "batch_size": 32, "max_length": 24, "encoder_lr": 1e-4, "head_lr": 4e-3}
    params = {"members": [{"model": "linear"}, {"model": "transformer", "params": {**tf, "progress_bar": False}}]}
    out = folder / "fp32"
    args = ["train", str(train), "--text", "Name", "--label", ",".join(LABELS), "--model", "ensemble"]
    res = CliRunner().invoke(app, [*args, "--params", json.dumps(params), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_an_ensemble_compresses_member_by_member(ensemble_dir: Path, tmp_path: Path) -> None:
    """`skutag compress ENSEMBLE`: its transformer member becomes an int8 edge model (no torch weights left), the
    linear member, blend and neighbour index stay; top-1 agrees with fp32 on >= 97% of real titles, and `skutag
    predict` reads the compressed directory. Pruning an ensemble is refused with the reason."""
    from skutag.models.ensemble import EnsembleModel

    out = tmp_path / "int8"
    res = CliRunner().invoke(app, ["compress", str(ensemble_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "int8 dynamic" in res.output
    model = load_model(out)
    assert isinstance(model, EnsembleModel)
    assert [m.kind for m in model.models_] == ["linear", "edge"]
    edge = model.models_[1]
    assert isinstance(edge, EdgeTransformer) and edge.int8_scheme_ == "dynamic"
    assert not list(out.rglob("model.safetensors")) and list(ensemble_dir.rglob("model.safetensors"))  # torch weights
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "ensemble" and meta["compressed_from"]["members"] == [1]
    assert meta["calibration"] == json.loads((ensemble_dir / "meta.json").read_text())["calibration"]

    titles = _mwpd("validation", N_VALID)[["Name"]]
    fp32 = load_model(ensemble_dir).predict_path_proba(titles)
    int8 = model.predict_path_proba(titles)
    assert fp32.shape == int8.shape
    agreement = float((fp32.argmax(1) == int8.argmax(1)).mean())
    assert agreement >= MIN_AGREEMENT, f"the int8 ensemble keeps fp32's top-1 path on {agreement:.1%}"
    assert float(np.abs(fp32 - int8).max()) > 1e-6  # the transformer member really runs int8

    data = tmp_path / "valid.csv"
    titles.head(50).to_csv(data, index=False)
    pred = tmp_path / "pred.csv"
    res = CliRunner().invoke(app, ["predict", str(out), str(data), "--out", str(pred)])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(pred)) == 50
    # and it predicts the same without torch or transformers, as on an edge install (+ scikit-learn)
    from test_edge_runtime import _run_without_torch

    edge_pred = tmp_path / "edge.csv"
    code = (
        f"from skutag.cli.main import app\napp(['predict', {str(out)!r}, {str(data)!r}, '--out', {str(edge_pred)!r}])\n"
    )
    proc = _run_without_torch(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    full, edge_only = pd.read_csv(pred), pd.read_csv(edge_pred)
    assert full["path"].tolist() == edge_only["path"].tolist()

    res = CliRunner().invoke(app, ["compress", str(ensemble_dir), "--out", str(tmp_path / "p"), "--prune-layers", "1"])
    assert res.exit_code != 0 and "neighbour index" in res.output and not (tmp_path / "p").exists()
