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
N_CLASSES, N_TRAIN, N_HELD = 10, 600, 400
#: the bundled MiniLM cut to 3 of its 6 layers (pretrained layers: pruning them hurts, unlike a random encoder's),
#: one short epoch on 16 tokens of title
PARAMS = {
    "encoder_layers": 3,
    "epochs": 1,
    "batch_size": 16,
    "head_lr": 4e-3,
    "encoder_lr": 1e-4,
    "max_length": 16,
    "knn": 5,
    "num_threads": 1,
    "progress_bar": False,
    "seed": 0,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A transformer trained through the CLI on 600 MWPD offers of the 10 most frequent level-2 classes; 400 other
    offers of those classes held out."""
    if not MWPD_TRAIN.is_file():
        pytest.skip("MWPD not found under the shared data")
    d = tmp_path_factory.mktemp("prune")
    rows = pd.read_json(MWPD_TRAIN, lines=True, nrows=4000, dtype=False)[["Name", *LEVELS]].fillna("").astype(str)
    rows = rows[rows["lvl2"].isin(rows["lvl2"].value_counts().index[:N_CLASSES])].reset_index(drop=True)
    rows.iloc[:N_TRAIN].to_csv(d / "train.csv", index=False)
    rows.iloc[N_TRAIN : N_TRAIN + N_HELD].to_csv(d / "held.csv", index=False)
    res = runner.invoke(
        app,
        [
            *("train", str(d / "train.csv"), "--text", "Name", "--label", ",".join(LEVELS)),
            *("--model", "transformer", "--params", json.dumps(PARAMS), "--out", str(d / "model")),
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


def _matmul_weights(path: Path) -> list[tuple[int, ...]]:
    """Shapes of the 2-D weights the graph's MatMul nodes multiply by (what ONNX Runtime computes)."""
    import onnx

    graph = onnx.load(str(path)).graph
    shapes = {i.name: tuple(i.dims) for i in graph.initializer if len(i.dims) == 2}
    return [shapes[name] for node in graph.node if node.op_type == "MatMul" for name in node.input if name in shapes]


def test_prune_and_recover_through_the_cli(trained: dict[str, Path]) -> None:
    d = trained["dir"]
    pruned, bare = d / "pruned", d / "bare"
    res = runner.invoke(
        app,
        [
            *("compress", str(trained["model"]), "--out", str(pruned)),
            *("--prune-layers", "2", "--prune-heads", "0.5", "--recover", str(trained["train"])),
        ],
    )
    assert res.exit_code == 0, res.output
    # 3 layers of 12 heads; 2 layers kept, then half of their 24 heads removed
    assert "pruned: 3 -> 2 layers" in res.output and "36 -> 12 attention heads" in res.output, res.output
    assert "recovered on 540 rows (0 rejected)" in res.output
    # the same pruning (the rows rank layers and heads) without the fine-tune, fp32
    res = runner.invoke(
        app,
        [
            *("compress", str(trained["model"]), "--out", str(bare), "--int8", "none"),
            *("--prune-layers", "2", "--prune-heads", "0.5", "--recover", str(trained["train"])),
            *("--recover-epochs", "0"),
        ],
    )
    assert res.exit_code == 0, res.output

    model = load_model(pruned)
    assert isinstance(model, EdgeTransformer) and model.int8_scheme_ == "dynamic"
    pruning = model.compressed_from_["pruning"]  # type: ignore[index]
    assert len(pruning["layers_kept"]) == 2 and pruning["heads_after"] == 12 and pruning["head_ranking"] == "gradient"
    assert pruning["layer_choice"] == "greedy" and pruning["epochs"] == 1
    held = pruning["held_out"]
    assert set(held) == {"unpruned", "pruned", "recovered"} and held["recovered"]["loss"] < held["pruned"]["loss"]
    config = json.loads((pruned / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["skutag_pruning"]["heads_kept"] == pruning["heads_kept"]
    # the fp32 graph multiplies smaller matrices: per layer Q, K, V (384 x 32 per kept head), the output projection
    # (32 per head x 384) and the feed-forward pair; 2 layers
    bare_model = load_model(bare)
    kept = [len(h) for h in bare_model.compressed_from_["pruning"]["heads_kept"]]  # type: ignore[index]
    assert len(kept) == 2 and sum(kept) == 12
    shapes = _matmul_weights(bare / "model.onnx")
    assert sorted(shapes) == sorted(
        [s for h in kept for s in [(384, 32 * h)] * 3 + [(32 * h, 384), (384, 1536), (1536, 384)]]
    ), shapes
    before = _matmul_weights(trained["model"] / "model.onnx")
    assert sum(np.prod(s) for s in shapes) < 0.6 * sum(np.prod(s) for s in before)  # 2,949,120 of 5,308,416

    # skutag predict: a path of the model's table for every row
    res = runner.invoke(app, ["predict", str(pruned), str(trained["held"]), "--out", str(d / "pred.csv")])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(d / "pred.csv", dtype=str).fillna("")
    assert len(pred) == N_HELD
    table = {tuple(p) for p in load_model(trained["model"]).path_names()}  # type: ignore[attr-defined]
    got = {tuple(x for x in row if x) for row in pred[["level_1", "level_2"]].itertuples(index=False, name=None)}
    assert got and got <= table, list(got)[:3]

    # recovery beats the same pruning without it on offers neither saw (fixed seeds; int8 against fp32, the
    # recovered model's handicap)
    after, before_ = _held_out(pruned, trained["held"]), _held_out(bare, trained["held"])
    assert after["loss"] < 0.9 * before_["loss"] and after["accuracy"] > before_["accuracy"], (after, before_)


def test_pruning_without_recovery_and_bad_requests(trained: dict[str, Path], tmp_path: Path) -> None:
    model = str(trained["model"])
    res = runner.invoke(app, ["compress", model, "--out", str(tmp_path / "x"), "--prune-heads", "1.5"])
    assert res.exit_code == 2 and "--prune-heads" in res.output
    res = runner.invoke(app, ["compress", model, "--out", str(tmp_path / "x"), "--recover", str(trained["train"])])
    assert res.exit_code == 2 and "give --prune-layers" in res.output
    res = runner.invoke(
        app, ["compress", model, "--out", str(tmp_path / "x"), "--prune-layers", "2", "--layer-choice", "best"]
    )
    assert res.exit_code == 2 and "--layer-choice" in res.output
    assert not (tmp_path / "x").exists()
    # no recovery rows: evenly spaced layers, heads ranked by their weights, a warning; the neighbour index (the
    # unpruned encoder's embeddings) dropped
    out = tmp_path / "plain"
    res = runner.invoke(
        app, ["compress", model, "--out", str(out), "--int8", "none", "--prune-layers", "2", "--prune-heads", "0.25"]
    )
    assert res.exit_code == 0, res.output
    assert "without a recovery fine-tune" in res.output and "index" in res.output
    pruned = load_model(out)
    report = pruned.compressed_from_["pruning"]  # type: ignore[index]
    assert (
        report["layer_choice"] == "even" and report["layers_kept"] == [0, 2] and report["head_ranking"] == "weight norm"
    )
    assert report["heads_after"] == 18 and len(pruned.knn_index_) == 0  # type: ignore[attr-defined]
    assert len(pruned.predict(pd.DataFrame({"Name": ["usb c charging cable", "red summer dress"]}))) == 2
    res = runner.invoke(app, ["compress", str(out), "--out", str(tmp_path / "y"), "--prune-layers", "1"])
    assert res.exit_code == 2 and "torch weights" in res.output


# ---- pieces -------------------------------------------------------------------------------------------------------
def test_removing_heads_is_gating_them_off() -> None:
    """Cutting heads out of the matrices computes exactly what the full network computes with those heads' outputs
    multiplied by 0 (the gate of the importance score): the structure changes, the function does not."""
    from transformers import BertConfig, BertModel

    from skutag.models.neural.prune import attention_of, encoder_layers, head_counts, remove_heads

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48)
    encoder = BertModel(config).eval()
    ids = torch.randint(5, 50, (3, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    off = [[1, 3], [0]]
    gates = [torch.ones(4) for _ in off]
    for g, heads in zip(gates, off, strict=True):
        g[heads] = 0.0

    def gate(g: torch.Tensor):
        return lambda module, inputs, output: (output[0] * g.repeat_interleave(8), *output[1:])

    handles = [
        attention_of(layer)[0].register_forward_hook(gate(g))
        for layer, g in zip(encoder_layers(encoder), gates, strict=True)
    ]
    with torch.no_grad():
        gated = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    for h in handles:
        h.remove()
    remove_heads(encoder, off)
    assert head_counts(encoder) == [2, 3]
    assert attention_of(encoder_layers(encoder)[0])[0].query.weight.shape == (16, 32)
    with torch.no_grad():
        cut = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(cut, gated, rtol=1e-5, atol=1e-5)


def test_least_important_heads_go_first_and_each_layer_keeps_one() -> None:
    from skutag.models.neural.prune import heads_to_remove

    importance = [np.array([0.9, 0.1, 0.5]), np.array([0.05, 0.04]), np.array([0.8, 0.7, 0.6])]
    assert heads_to_remove(importance, 0.0) == [[], [], []]
    assert heads_to_remove(importance, 0.25) == [[1], [1], []]  # 2 of 8: 0.04, then 0.1 (0.05 is its layer's last)
    assert heads_to_remove(importance, 0.5) == [[1, 2], [1], [2]]
    assert heads_to_remove(importance, 0.9) == [[1, 2], [1], [1, 2]]  # 7 asked, 5 possible: one head a layer stays
