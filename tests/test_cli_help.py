"""What `--help` tells a user before they read any code: the model kinds `train` takes."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from skutag.cli.main import app
from skutag.models.registry import MODELS

runner = CliRunner()


def help_text(*command: str) -> str:
    res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert res.exit_code == 0, res.output
    return " ".join(res.output.replace("│", " ").split())  # one line: rich wraps and frames the help


def test_train_help_lists_every_registered_kind() -> None:
    text = help_text("train")
    assert "see skutag.models.registry" not in text
    assert f"Model kind: {', '.join(MODELS)}" in text
    assert {"linear", "transformer", "fast", "ensemble"} <= set(MODELS)


def test_the_cli_imports_no_model_code() -> None:
    """The kinds in the help come from the registry's names alone: no torch, and no numpy or pandas either,
    so that `skutag --help` and `skutag version` stay quick."""
    code = "import sys, skutag.cli.main; print(sorted({'torch', 'numpy', 'pandas'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"
