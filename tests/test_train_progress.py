"""`train_model` from Python is never silent: without any logging set up it writes its steps to stderr (as the
CLI shows them in its spinner); ``progress=False`` keeps it quiet and a callable gets the messages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from skutag.workflows.train import train_model
from test_model_data import synthetic


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("progress")
    synthetic(200, seed=6).to_csv(d / "train.csv", index=False)
    synthetic(60, seed=7).to_csv(d / "valid.csv", index=False)
    return {"train": d / "train.csv", "valid": d / "valid.csv", "dir": d}


def fit(data: dict[str, Path], **kwargs: object) -> None:
    train_model(
        data["train"],
        text=["title"],
        label=["lvl1", "lvl2", "lvl3"],
        valid=data["valid"],
        out=data["dir"] / "model",
        rejects=data["dir"] / "rejects.jsonl",
        **kwargs,  # type: ignore[arg-type]
    )


def test_progress_goes_to_stderr_by_default(data: dict[str, Path], capfd: pytest.CaptureFixture[str]) -> None:
    assert not logging.getLogger("skutag").isEnabledFor(logging.INFO)  # nobody configured logging
    fit(data)
    out, err = capfd.readouterr()
    assert out == ""
    lines = err.splitlines()
    steps = [line.split("] ", 1)[1] for line in lines]
    assert all(line.startswith("skutag [") for line in lines)
    assert steps[0] == "reading training data" and steps[1] == "training linear on 200 rows (0 rejected)"
    assert any(s.startswith("vectorising 200 rows") for s in steps)  # the model's own steps
    assert "evaluating on validation data" in steps and "saving" in steps
    assert steps[-1].startswith("done: trained in ") and str(data["dir"] / "model") in steps[-1]


def test_progress_false_is_quiet_and_a_callable_gets_the_steps(
    data: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    fit(data, progress=False)
    assert capfd.readouterr() == ("", "")
    seen: list[str] = []
    fit(data, progress=seen.append)
    assert capfd.readouterr() == ("", "")
    assert seen[0] == "reading training data" and "saving" in seen and seen[-1].startswith("done")
