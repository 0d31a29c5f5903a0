"""What `--help` and the README tell a user before they read any code: the model kinds `train` takes, and one
real `POST /v1/tag` request with its response (README and `serve --help`), checked against the running app."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from conftest_store import small_model_dir
from skutag.cli.main import app
from skutag.models.registry import MODELS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
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


def readme_http_example() -> tuple[dict[str, Any], dict[str, Any]]:
    """The request body of the README's curl and the response shown under it (Quick start section)."""
    m = re.search(r"^## Quick start.*?(?=^## )", README, re.M | re.S)
    assert m is not None, "README.md has no Quick start section"
    section = m.group(0)
    console = re.search(r"^```console\n(.*?)^```", section, re.M | re.S)
    shown = re.search(r"^```json\n(.*?)^```", section, re.M | re.S)
    assert console is not None and shown is not None, "the quick start needs a curl and the JSON it answers"
    argv = shlex.split(console.group(1).replace("\\\n", " ").replace("$ ", " "), comments=True)
    curl = argv[argv.index("curl") :]
    assert "/v1/tag" in curl[curl.index("-s") + 1]
    return json.loads(curl[curl.index("-d") + 1]), json.loads(shown.group(1))


def shape(value: Any) -> Any:
    """The keys of ``value``, nested (a list by its first item): what a client parses."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if isinstance(value, bool | str) else "number"


def test_readme_shows_a_real_tag_request_and_response(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from skutag.serving.app import create_app
    from skutag.serving.settings import ServeSettings

    body, shown = readme_http_example()
    settings = ServeSettings(
        model_dir=small_model_dir(), db_url=f"sqlite:///{tmp_path / 'tags.db'}", api_keys="secret", worker_process=False
    )
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/tag", json=body, headers={"Authorization": "Bearer secret"})
    assert r.status_code == 200, r.text
    real = r.json()
    assert shape(shown) == shape(real)
    assert [x["id"] for x in shown["results"]] == [p["id"] for p in body["products"]]
    result = shown["results"][0]
    assert [lv["name"] for lv in result["levels"]] == result["path"] == result["alternatives"][0]["path"]
    assert result["decision"] == ("auto_accepted" if result["confidence"] >= shown["threshold"] else "needs_review")
    # `serve --help` shows the same request and (trimmed) response
    text = help_text("serve")
    assert json.dumps(body) in text and "/v1/tag" in text
    keys = {k for d in (real, real["results"][0]) for k in d}
    assert [k for k in sorted(keys) if f'"{k}":' not in text] == []
