"""`skutag serve` on a broken model: the one-line error `skutag predict` gives, exit status 2, no traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest_store import free_port, small_model_dir

CLI = "from skutag.cli.main import app; app(prog_name='skutag')"


def skutag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=120)


def flip_a_byte(model: Path) -> None:
    weights = next(model.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))


def truncate_card(model: Path) -> None:
    meta = model / "meta.json"
    meta.write_text(meta.read_text()[:40])


@pytest.mark.parametrize(
    ("damage", "message"),
    [(flip_a_byte, "checksum mismatch"), (truncate_card, "unreadable model card"), (shutil.rmtree, "no such model")],
)
def test_serve_on_a_broken_model_prints_the_error_predict_prints(
    tmp_path: Path, damage: Callable[[Path], None], message: str
) -> None:
    model = tmp_path / "model"
    shutil.copytree(small_model_dir(), model)
    damage(model)
    (tmp_path / "rows.csv").write_text("Name\nkettle\n")
    served = skutag("serve", str(model), "--db", f"sqlite:///{tmp_path / 'tags.db'}", "--port", str(free_port()))
    predicted = skutag("predict", str(model), str(tmp_path / "rows.csv"), "--out", str(tmp_path / "out.csv"))
    assert served.returncode == predicted.returncode == 2, served.stderr
    assert "Traceback" not in served.stderr + served.stdout
    lines = [line for line in served.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], served.stderr
    assert lines == [line for line in predicted.stderr.splitlines() if line.strip()]
    assert not (tmp_path / "tags.db").exists()  # refused before anything was opened
