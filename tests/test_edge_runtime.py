"""The edge runtime: a transformer predicts without torch or transformers (numpy + onnxruntime + tokenizers), from
its own directory or from a `skutag compress`-ed one, with the full install's predictions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from skutag.cli.main import app
from skutag.errors import ConfigError
from skutag.models.neural.edge import EdgeTransformer
from skutag.models.neural.transformer import TransformerModel
from skutag.models.registry import load_model
from test_transformer_helpers import FAST_TRAINING, tiny_encoder

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["lvl1", "lvl2"]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    from skutag.datasets.paths import shared_data_dir

    path = shared_data_dir() / "mwpd2020" / "train.json"
    if not path.is_file():
        pytest.skip("shared data not found")
    df = pd.read_json(path, lines=True, nrows=900)
    return df.fillna("").astype({c: str for c in ["Name", *LABELS]})


@pytest.fixture(scope="module")
def saved(rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny transformer (random 2-layer encoder, trained a little) on 700 real MWPD offers, saved."""
    tmp = tmp_path_factory.mktemp("edge")
    train = rows.iloc[:700]
    labels = train[LABELS].set_axis(["level_1", "level_2"], axis=1)
    model = TransformerModel(encoder=tiny_encoder(tmp / "enc"), num_threads=1, knn=5, **FAST_TRAINING)
    model.fit(train[["Name"]], labels)
    return model.save(tmp / "model")


def test_edge_predicts_what_the_full_install_predicts(saved: Path, rows: pd.DataFrame) -> None:
    full = load_model(saved)
    edge = EdgeTransformer.load(saved)
    test = rows.iloc[700:][["Name"]].reset_index(drop=True)
    test.loc[0, "Name"] = "a much longer title than the others " * 8  # truncation and padding
    a, b = full.predict_path_proba(test), edge.predict_path_proba(test)
    np.testing.assert_array_equal(a.argmax(1), b.argmax(1))
    assert float(np.abs(a - b).max()) < 1e-5
    pd.testing.assert_frame_equal(full.predict(test), edge.predict(test))
    with pytest.raises(ConfigError, match="only predicts"):
        edge.fit(test, test)


BLOCK = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"No module named {name!r} (blocked: an edge install)", name=name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


def _run_without_torch(code: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter where importing torch or transformers fails, as on an edge install."""
    script = tmp / "edge_run.py"
    script.write_text(BLOCK + textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)


def test_predict_command_without_torch(saved: Path, rows: pd.DataFrame, tmp_path: Path) -> None:
    data = tmp_path / "products.csv"
    rows.iloc[700:][["Name"]].to_csv(data, index=False)
    res = CliRunner().invoke(app, ["predict", str(saved), str(data), "--out", str(tmp_path / "full.csv")])
    assert res.exit_code == 0, res.output
    proc = _run_without_torch(
        f"""
        from skutag.cli.main import app
        from skutag.models.registry import load_model
        assert type(load_model({str(saved)!r})).__name__ == "EdgeTransformer"
        app(["predict", {str(saved)!r}, {str(data)!r}, "--out", {str(tmp_path / "edge.csv")!r}])
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    full = pd.read_csv(tmp_path / "full.csv")
    edge = pd.read_csv(tmp_path / "edge.csv")
    assert list(full.columns) == list(edge.columns) and len(full) == len(edge) == 200
    scores = [c for c in full.columns if "score" in c]
    same = [c for c in full.columns if c not in scores and c != "alternatives"]
    pd.testing.assert_frame_equal(full[same], edge[same])
    np.testing.assert_allclose(full[scores].to_numpy(float), edge[scores].to_numpy(float), atol=1e-5)
    alternatives = [[[a["path"] for a in json.loads(v)] for v in df["alternatives"]] for df in (full, edge)]
    assert alternatives[0] == alternatives[1]


def test_compress_writes_an_edge_directory(saved: Path, rows: pd.DataFrame, tmp_path: Path) -> None:
    runner = CliRunner()
    calib = tmp_path / "calib.csv"
    rows.iloc[:200][["Name"]].to_csv(calib, index=False)
    test = rows.iloc[700:][["Name"]].reset_index(drop=True)
    reference = load_model(saved).predict_path_proba(test).argmax(1)
    for scheme, extra in (("dynamic", []), ("static", ["--calibration", str(calib)]), ("none", [])):
        out = tmp_path / scheme
        res = runner.invoke(app, ["compress", str(saved), "--out", str(out), "--int8", scheme, *extra])
        assert res.exit_code == 0, res.output
        meta = json.loads((out / "meta.json").read_text())
        assert meta["kind"] == "edge" and "model.safetensors" not in meta["files"]
        model = load_model(out)
        assert isinstance(model, EdgeTransformer) and model.int8_scheme_ == (None if scheme == "none" else scheme)
        agree = float((model.predict_path_proba(test).argmax(1) == reference).mean())
        assert agree == 1.0 if scheme == "none" else agree >= 0.8, (scheme, agree)
        assert model.card_.get("calibration") == load_model(saved).card_.get("calibration")
    # dense layers int8, the token table float16 (half): the tiny encoder is mostly token table
    assert (tmp_path / "dynamic" / "model.onnx").stat().st_size < 0.6 * (saved / "model.onnx").stat().st_size
    proc = _run_without_torch(
        f"""
        from skutag.models.registry import load_model
        import pandas as pd
        m = load_model({str(tmp_path / "dynamic")!r})
        print(m.kind, len(m.predict(pd.DataFrame({{"Name": ["usb cable", "red dress"]}}))))
        """,
        tmp_path,
    )
    assert proc.returncode == 0 and proc.stdout.split() == ["edge", "2"], proc.stderr[-3000:]


def test_compress_refuses_what_it_cannot_do(saved: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["compress", str(saved), "--out", str(tmp_path / "s"), "--int8", "static"])
    assert res.exit_code != 0 and "--calibration" in res.output
    res = runner.invoke(app, ["compress", str(saved), "--out", str(tmp_path / "s"), "--int8", "fp16"])
    assert res.exit_code != 0 and "--int8" in res.output
    assert not (tmp_path / "s").exists()
