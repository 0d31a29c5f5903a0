"""Group-aware stratified splits: no duplicate group straddles splits, class shares stay close."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from skutag.cli.main import app
from skutag.errors import ConfigError
from skutag.workflows.split import group_stratified_split, split_catalogue, stratification_keys


def straddling(groups: np.ndarray, split: np.ndarray) -> int:
    return int((pd.DataFrame({"g": groups, "s": split}).groupby("g")["s"].nunique() > 1).sum())


def test_class_shares_close_and_groups_whole() -> None:
    rng = np.random.default_rng(1)
    n = 6000
    labels = pd.DataFrame({"l1": rng.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1])})
    labels["l2"] = labels["l1"] + rng.choice(["x", "y"], n, p=[0.8, 0.2])
    groups = rng.integers(0, 4500, n)  # many groups of 2-4 rows
    split = group_stratified_split(labels, groups, fractions=(0.8, 0.1, 0.1), seed=3)
    assert set(split) == {"train", "validation", "test"}
    assert straddling(groups, split) == 0
    overall = pd.Series(split).value_counts(normalize=True)
    assert abs(overall["train"] - 0.8) < 0.01 and abs(overall["test"] - 0.1) < 0.01
    tab = pd.crosstab(labels["l2"], split, normalize="index")
    assert (tab["train"] - 0.8).abs().max() < 0.03
    assert (tab["validation"] - 0.1).abs().max() < 0.03
    assert (tab["test"] - 0.1).abs().max() < 0.03


def test_deterministic_for_a_seed_and_different_for_another() -> None:
    labels = np.repeat(["a", "b"], 50)
    groups = np.arange(100)
    s1 = group_stratified_split(labels, groups, seed=7)
    s2 = group_stratified_split(labels, groups, seed=7)
    s3 = group_stratified_split(labels, groups, seed=8)
    assert (s1 == s2).all()
    assert not (s1 == s3).all()
    assert (pd.Series(s1[labels == "a"]).value_counts().to_dict()) == {"train": 40, "validation": 5, "test": 5}


def test_rare_classes_fall_back_to_coarser_level() -> None:
    labels = pd.DataFrame({"l1": ["A"] * 30 + ["B"] * 30, "l2": ["A1"] * 25 + ["A2"] * 5 + ["B1"] * 29 + ["B2"]})
    keys = stratification_keys(labels, min_count=10)
    assert len(set(keys[:25])) == 1 and keys[0].endswith("A1")
    assert keys[25].endswith("A") and not keys[25].endswith("A2")
    assert keys[-1].endswith("B")
    rare = stratification_keys(pd.DataFrame({"l1": ["X", "Y"]}), min_count=10)
    assert rare[0] == rare[1]  # everything rarer still shares one pool


def test_every_class_reaches_train() -> None:
    labels = pd.DataFrame({"l1": ["A"] * 60, "l2": [f"rare{i}" for i in range(30)] + ["common"] * 30})
    for seed in range(5):
        split = group_stratified_split(labels, np.arange(60), seed=seed)
        assert set(labels["l2"][split == "train"]) == set(labels["l2"])
        assert (split == "validation").sum() >= 3 and (split == "test").sum() >= 3


def test_bad_fractions_rejected() -> None:
    with pytest.raises(ConfigError):
        group_stratified_split(["a"], [0], fractions=(0.5, 0.6, 0.1))
    with pytest.raises(ConfigError):
        group_stratified_split(["a"], [0], fractions=(0.5, 0.5))


def test_empty_input() -> None:
    assert len(group_stratified_split(np.array([], dtype=object), np.array([], dtype=int))) == 0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.sampled_from("abcde")), min_size=1, max_size=200),
    st.integers(0, 3),
)
def test_property_groups_never_straddle(rows: list[tuple[int, str]], seed: int) -> None:
    groups = np.array([g for g, _ in rows])
    labels = np.array([lab for _, lab in rows])
    split = group_stratified_split(labels, groups, fractions=(0.7, 0.15, 0.15), seed=seed)
    assert len(split) == len(rows)
    assert set(split) <= {"train", "validation", "test"}
    assert straddling(groups, split) == 0


def _write(tmp_path: Path, n: int = 200) -> Path:
    rows = []
    for i in range(n):
        rows.append({"title": f"Item {i // 2 if i < 40 else i}", "cat": f"Top > Sub{i % 4}"})
    path = tmp_path / "cat.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")
    return path


def test_split_catalogue_writes_files_and_summary(tmp_path: Path) -> None:
    src = _write(tmp_path)
    summary = split_catalogue([src], tmp_path / "out", label=("cat",), label_sep=">", seed=1)
    assert summary.rows_read == 200 and summary.rows_rejected == 1
    assert sum(summary.rows.values()) == 200
    assert summary.straddling_groups == 0 and summary.duplicate_groups == 20
    frames = {name: pd.read_json(tmp_path / "out" / f"{name}.jsonl", lines=True) for name in summary.rows}
    assert {k: len(v) for k, v in frames.items()} == summary.rows
    assert all("_row" not in f.columns for f in frames.values())
    seen: dict[str, str] = {}
    for name, f in frames.items():
        for t in f["title"]:
            assert seen.setdefault(t, name) == name, f"{t} in two splits"
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["rows"] == summary.rows
    assert (tmp_path / "out" / "rejects.jsonl").read_text().count("\n") == 1


def test_cli_split(tmp_path: Path) -> None:
    src = _write(tmp_path)
    out = tmp_path / "cli"
    args = ["split", str(src), "--out", str(out), "--label", "cat", "--label-sep", ">", "--fractions", "0.6,0.2,0.2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "train.jsonl").exists() and "summary.json" in result.output
    bad = CliRunner().invoke(app, [*args[:-1], "0.6,0.2"])
    assert bad.exit_code == 2
