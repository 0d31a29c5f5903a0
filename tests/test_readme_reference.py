"""The README's configuration reference is complete: every server setting, every ``SKUTAG_*`` variable the code
reads and every hyperparameter a model kind takes from ``skutag train --params`` is documented there; and
the generated benchmark tables live in docs/benchmarks.md, not in the README."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from skutag.models.registry import MODELS, model_class
from skutag.serving.settings import ServeSettings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: a quoted environment variable name in code: "SKUTAG_CACHE", 'SKUTAG_BENCH_OUT' ...
ENV_LITERAL = re.compile(r"""["'](SKUTAG_[A-Z][A-Z0-9_]*)["']""")
NOT_PARAMS = {"self", "progress"}


def readme_section(title: str) -> str:
    m = re.search(rf"^#+ {re.escape(title)}\s*$(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert m is not None, f"README.md has no '{title}' heading"
    return m.group(1)


def test_readme_stays_a_guide() -> None:
    lines = README.splitlines()
    assert len(lines) <= 250
    start = "\n".join(lines[:40])
    assert "make demo" in start and "make test" in start


def test_every_server_setting_is_documented() -> None:
    names = [f"SKUTAG_{name.upper()}" for name in ServeSettings.model_fields]
    assert "SKUTAG_LOOP" in names and "SKUTAG_WORKER_TIMEOUT_S" in names
    assert [n for n in names if f"`{n}`" not in README] == []


def test_every_environment_variable_read_is_documented() -> None:
    read = set()
    for folder in ("src", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= set(ENV_LITERAL.findall(path.read_text(encoding="utf-8")))
    assert "SKUTAG_CACHE" in read and "SKUTAG_SHARED_DATA" in read
    assert sorted(v for v in read if f"`{v}`" not in README) == []


def model_keys(kind: str) -> list[str]:
    if kind != "linear":
        pytest.importorskip("torch")
    cls = model_class(kind)
    params = inspect.signature(cls.__init__).parameters.values()
    keys = [p.name for p in params if p.name not in NOT_PARAMS and p.kind is not p.VAR_KEYWORD]
    if any(p.kind is p.VAR_KEYWORD for p in params):  # the transformer takes its training arguments as keywords
        from skutag.trainer.arguments import TrainingArguments

        keys += [f.name for f in dataclasses.fields(TrainingArguments)]
    return keys


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_model_hyperparameter_is_documented(kind: str) -> None:
    body = (ROOT / "docs" / "hyperparameters.md").read_text(encoding="utf-8")
    m = re.search(rf"^- \*\*{kind}\*\*:(.*?)(?=^- \*\*|\Z)", body, re.M | re.S)
    assert m is not None, f"no '- **{kind}**:' entry under Model hyperparameters"
    missing = [k for k in model_keys(kind) if f"`{k}`" not in m.group(1)]
    assert missing == []


def test_benchmark_markers_are_in_docs_not_readme() -> None:
    doc = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert doc.count("<!-- bench:start -->") == doc.count("<!-- bench:end -->") == 1
    assert doc.index("<!-- bench:start -->") < doc.index("<!-- bench:end -->")
    assert "bench:start" not in README
