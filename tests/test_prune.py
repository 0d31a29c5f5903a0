"""Pruning (skutag compress --prune-layers/--prune-heads/--recover): a small transformer trained through the CLI on
real MWPD offers is pruned to half its layers and heads; the edge directory loads, `skutag predict` gives paths of the
model's table, the ONNX graph really is smaller, and the recovery fine-tune beats the same pruning without it on
held-out offers. Then the pieces: head removal keeps a network's function where the heads it cuts are gated off, the
importance ranking and the settings' errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from real_shaped import MWPD_TRAIN  # noqa: E402
from skutag.cli.main import app  # noqa: E402
from skutag.models.neural.edge import EdgeTransformer  # noqa: E402
from skutag.models.registry import load_model  # noqa: E402

runner = CliRunner()
LEVELS = ["lvl1", "lvl2"]
N_TRAIN, N_HELD = 900, 400
#: a 4-layer, 4-head, 32-wide random BERT trains fast; its token embeddings must train too
PARAMS = {
    "epochs": 4,
    "batch_size": 16,
    "head_lr": 1e-2,
    "encoder_lr": 1e-3,
    "progress_bar": False,
    "freeze_embeddings": False,
    "max_length": 24,
    "knn": 5,
    "num_threads": 1,
    "seed": 0,
}


def small_encoder(directory: Path, layers: int = 4, heads: int = 4) -> str:
    """A random BERT (32 wide, ``layers`` layers of ``heads`` heads) with the bundled MiniLM tokenizer."""
    from transformers import BertConfig, BertModel

    from skutag.models.neural.encoder import load_tokenizer

    tok = load_tokenizer(None)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    return str(directory)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not MWPD_TRAIN.is_file():
        pytest.skip("MWPD not found under the shared data")
    d = tmp_path_factory.mktemp("prune")
    rows = pd.read_json(MWPD_TRAIN, lines=True, nrows=N_TRAIN + N_HELD, dtype=False)
    rows = rows[["Name", *LEVELS]].fillna("").astype(str)
    rows.iloc[:N_TRAIN].to_csv(d / "train.csv", index=False)
    rows.iloc[N_TRAIN:].to_csv(d / "held.csv", index=False)
    params = {**PARAMS, "encoder": small_encoder(d / "enc")}
    res = runner.invoke(
        app,
        [
            *("train", str(d / "train.csv"), "--text", "Name", "--label", ",".join(LEVELS)),
            *("--model", "transformer", "--params", json.dumps(params), "--out", str(d / "model")),
        ],
    )
    assert res.exit_code == 0, res.output
    return {"dir": d, "model": d / "model", "train": d / "train.csv", "held": d / "held.csv"}


def _held_out(model_dir: Path, held: Path) -> dict[str, float]:
    """Path accuracy and the true path's mean negative log-likelihood on held-out offers."""
    model = load_model(model_dir)
    frame = pd.read_csv(held, dtype=str).fillna("")
    ids = model.path_ids(frame[LEVELS].set_axis(["level_1", "level_2"], axis=1))  # type: ignore[attr-defined]
    probs = model.predict_path_proba(frame[["Name"]])  # type: ignore[attr-defined]
    ok = ids >= 0
    return {
        "accuracy": float((probs[ok].argmax(1) == ids[ok]).mean()),
        "loss": float(-np.log(np.clip(probs[ok, ids[ok]], 1e-12, None)).mean()),
    }


def _graph_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    import onnx

    graph = onnx.load(str(path)).graph
    return {i.name: tuple(i.dims) for i in graph.initializer}


def test_prune_and_recover_through_the_cli(trained: dict[str, Path]) -> None:
    d = trained["dir"]
    pruned, bare = d / "pruned", d / "bare"
    res = runner.invoke(
        app,
        [
            *("compress", str(trained["model"]), "--out", str(pruned)),
            *("--prune-layers", "2", "--prune-heads", "0.5", "--recover", str(trained["train"])),
            *("--recover-epochs", "3"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "pruned: 4 -> 2 layers" in res.output and "16 -> 4 attention heads" in res.output, res.output
    # the same pruning, the rows ranking layers and heads but no fine-tune
    res = runner.invoke(
        app,
        [
            *("compress", str(trained["model"]), "--out", str(bare)),
            *("--prune-layers", "2", "--prune-heads", "0.5", "--recover", str(trained["train"])),
            *("--recover-epochs", "0"),
        ],
    )
    assert res.exit_code == 0, res.output

    model = load_model(pruned)
    assert isinstance(model, EdgeTransformer) and model.int8_scheme_ == "dynamic"
    pruning = model.compressed_from_["pruning"]  # type: ignore[index]
    assert len(pruning["layers_kept"]) == 2 and pruning["heads_after"] == 4 and pruning["head_ranking"] == "gradient"
    assert pruning["recover_rows"] > 0 and pruning["epochs"] == 3
    config = json.loads((pruned / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["skutag_pruning"]["heads_kept"] == pruning["heads_kept"]
    # the graph is smaller: 2 layers' projections, each as wide as its kept heads (8 dimensions a head)
    fp32 = load_model(bare)  # int8 graphs name their weights differently: read the unquantised export's sizes
    assert fp32.compressed_from_["pruning"]["layers_kept"] == pruning["layers_kept"]  # type: ignore[index]
    assert (pruned / "model.onnx").stat().st_size < (trained["model"] / "model.onnx").stat().st_size

    # skutag predict: paths of the model's table for every row
    res = runner.invoke(app, ["predict", str(pruned), str(trained["held"]), "--out", str(d / "pred.csv")])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(d / "pred.csv", dtype=str).fillna("")
    held = pd.read_csv(trained["held"], dtype=str)
    assert len(pred) == len(held)
    table = {tuple(p) for p in load_model(trained["model"]).path_names()}  # type: ignore[attr-defined]
    level_cols = [c for c in pred.columns if c.startswith("lvl") or c.startswith("level_")][:2]
    got = {tuple(x for x in row if x) for row in pred[level_cols].itertuples(index=False, name=None)}
    assert got <= table, (level_cols, list(got)[:3])

    # recovery beats no recovery on offers neither saw (fixed seeds: a real margin, not noise)
    after, before = _held_out(pruned, trained["held"]), _held_out(bare, trained["held"])
    assert after["accuracy"] > before["accuracy"] + 0.03 and after["loss"] < before["loss"], (after, before)
