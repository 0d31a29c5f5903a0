"""The core install works without any extra, and a command that needs one says which ``pip install`` brings it.

The CLI runs in a subprocess where every optional dependency (``skutag.extras.EXTRAS``) fails to import, as on a
machine with a bare ``pip install skutag``.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from skutag.extras import EXTRAS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mwpd2020"

BARE = f"""
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {sorted(EXTRAS)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
from skutag.cli.main import app
app(prog_name="skutag")
"""


def bare(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BARE, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def slices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    out = tmp_path_factory.mktemp("bare")
    for name, n in (("train.json", 400), ("validation.json", 150)):
        with (DATA / name).open(encoding="utf-8") as src, (out / name).open("w", encoding="utf-8") as dst:
            dst.writelines(itertools.islice(src, n))
    return out


def test_core_commands_need_no_extra(slices: Path) -> None:
    model = slices / "model"
    steps = [
        ("inspect", slices / "train.json", "--out", slices / "quality"),
        ("train", slices / "train.json", "--text", "Name", "--label", "lvl1,lvl2,lvl3", "--out", model),
        (
            "train",
            slices / "train.json",
            "--text",
            "Name",
            "--label",
            "lvl1,lvl2,lvl3",
            "--valid",
            slices / "validation.json",
            "--out",
            model,
        ),
        ("evaluate", model, slices / "validation.json", "--out", slices / "eval"),
        ("predict", model, slices / "validation.json", "--out", slices / "pred.csv"),
    ]
    for step in steps:
        run = bare(*step)
        assert run.returncode == 0, f"skutag {step[0]}: {run.stderr[-1500:]}"
    assert len((slices / "pred.csv").read_text(encoding="utf-8").splitlines()) == 151  # header + every row


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (
            (
                "train",
                "{train}",
                "--text",
                "Name",
                "--label",
                "lvl1,lvl2,lvl3",
                "--model",
                "transformer",
                "--out",
                "{tmp}/t",
            ),
            "neural",
        ),
        (("serve", "{tmp}/no-model"), "serve"),
        (("predict", "{tmp}/no-model", "{train}", "--out", "{tmp}/out", "--ray"), "ray"),
    ],
)
def test_a_missing_extra_is_named_in_one_line(args: tuple[str, ...], extra: str, slices: Path, tmp_path: Path) -> None:
    run = bare(*(a.format(train=slices / "train.json", tmp=tmp_path) for a in args))
    assert run.returncode == 2, run.stderr[-1500:]
    assert f"pip install 'skutag[{extra}]'" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
