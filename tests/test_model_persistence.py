"""Saving and loading: fresh-process identity, checksums, corrupted/truncated/foreign dirs, atomic saves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skutag.errors import ModelLoadError
from skutag.models.linear.model import LinearModel
from skutag.models.registry import load_model
from test_model_data import labels_of, synthetic

TEXT = ["title", "description"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[LinearModel, Path]:
    train = synthetic(300, seed=5)
    model = LinearModel(n_jobs=1).fit(train[TEXT], labels_of(train))
    model.card_ = {"note": "test"}
    path = tmp_path_factory.mktemp("models") / "m"
    model.save(path)
    return model, path


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_no_pickle_and_card(saved: tuple[LinearModel, Path]) -> None:
    _, path = saved
    names = sorted(p.name for p in path.iterdir())
    assert names == ["arrays.safetensors", "config.json", "meta.json", "taxonomy.json"]
    meta = json.loads((path / "meta.json").read_text())
    assert meta["kind"] == "linear" and meta["note"] == "test" and meta["text_columns"] == TEXT
    assert set(meta["files"]) == {"arrays.safetensors", "config.json", "taxonomy.json"}
    assert all(len(v) == 64 for v in meta["files"].values())


def test_fresh_process_predicts_identically(saved: tuple[LinearModel, Path], tmp_path: Path) -> None:
    model, path = saved
    test = synthetic(120, seed=9)
    test[TEXT].to_json(tmp_path / "in.json", orient="records")
    script = (
        "import sys, json, pandas as pd\n"
        "from skutag.models import load_model\n"
        "m = load_model(sys.argv[1])\n"
        "df = pd.read_json(sys.argv[2], orient='records')\n"
        "top = m.predict_topk(df, k=3)\n"
        "json.dump({'paths': top.paths, 'scores': top.scores.tolist(),"
        " 'proba': m.predict_proba(df)[2].to_numpy().tolist()}, open(sys.argv[3], 'w'))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "in.json"), str(tmp_path / "out.json")], check=True
    )
    got = json.loads((tmp_path / "out.json").read_text())
    df = pd.read_json(tmp_path / "in.json", orient="records")
    top = model.predict_topk(df, k=3)
    assert [[tuple(p) for p in row] for row in got["paths"]] == top.paths
    np.testing.assert_array_equal(np.array(got["scores"]), top.scores)
    np.testing.assert_array_equal(np.array(got["proba"]), model.predict_proba(df)[2].to_numpy())


def test_loaded_in_process_equal(saved: tuple[LinearModel, Path]) -> None:
    model, path = saved
    again = LinearModel.load(path)
    test = synthetic(50, seed=11)
    assert again.predict(test[TEXT]).equals(model.predict(test[TEXT]))
    assert again.card_["note"] == "test"


def test_bad_directories(saved: tuple[LinearModel, Path], tmp_path: Path) -> None:
    _, path = saved
    with pytest.raises(ModelLoadError, match="no such model directory"):
        load_model(tmp_path / "absent")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "model.pkl").write_bytes(b"\x80\x04junk")
    with pytest.raises(ModelLoadError, match="not a skutag model"):
        load_model(foreign)
    (foreign / "meta.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="unreadable"):
        load_model(foreign)
    (foreign / "meta.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelLoadError, match="not a skutag model"):
        load_model(foreign)

    corrupt = _copy(path, tmp_path / "corrupt")
    data = bytearray((corrupt / "arrays.safetensors").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (corrupt / "arrays.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        load_model(corrupt)

    truncated = _copy(path, tmp_path / "truncated")
    raw = (truncated / "arrays.safetensors").read_bytes()
    (truncated / "arrays.safetensors").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        load_model(truncated)

    missing = _copy(path, tmp_path / "missing")
    (missing / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(missing)

    # a consistent checksum over inconsistent content still fails cleanly, as ModelLoadError
    forged = _copy(path, tmp_path / "forged")
    (forged / "config.json").write_text(json.dumps({"params": {}}))
    meta = json.loads((forged / "meta.json").read_text())
    from skutag.models.card import sha256_file

    meta["files"]["config.json"] = sha256_file(forged / "config.json")
    (forged / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="cannot load model state"):
        load_model(forged)

    other_kind = _copy(path, tmp_path / "kind")
    meta = json.loads((other_kind / "meta.json").read_text())
    meta["kind"] = "transformer-x"
    (other_kind / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="unknown model kind"):
        load_model(other_kind)
    with pytest.raises(ModelLoadError, match="not 'linear'"):
        LinearModel.load(other_kind)


def test_crash_mid_save_keeps_previous_model(
    saved: tuple[LinearModel, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, path = saved
    target = _copy(path, tmp_path / "keep")
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def boom(self: LinearModel, directory: Path) -> None:
        (directory / "config.json").write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(LinearModel, "_save_state", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]  # no temporary leftovers
    assert isinstance(load_model(target), LinearModel)
