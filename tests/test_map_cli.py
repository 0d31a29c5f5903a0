"""`skutag map` end to end on a real slice (MWPD 2020 validation offers): onto GS1 by name and onto a file of
paths; every output path exists in the taxonomy, the columns are `skutag predict`'s plus `decision`, and rows in
= rows out + rows rejected (a row without text is rejected with its reason)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from skutag.cli.main import app
from skutag.datasets.paths import find_shared_data
from skutag.taxonomy.sources import load_taxonomy_source

runner = CliRunner()
ROWS = 40


def shared() -> Path:
    root = find_shared_data()
    if root is None or not (root / "mwpd2020" / "validation.json").is_file():
        pytest.skip("shared data not available")
    return root


@pytest.fixture(scope="module")
def slice_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 MWPD validation offers plus one with neither a title nor a description."""
    with (shared() / "mwpd2020" / "validation.json").open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in itertools.islice(fh, ROWS)]
    blank = {**records[0], "ID": "no-text", "Name": "  ", "Description": ""}
    path = tmp_path_factory.mktemp("map") / "offers.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [*records[:20], blank, *records[20:]]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def class_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GS1 segment > family > class paths as MWPD names them (its label vocabulary: names only)."""
    paths = set()
    with (shared() / "mwpd2020" / "train.json").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            paths.add(" > ".join(r[lv].split("_", 1)[1].replace("\ufffd", "-") for lv in ("lvl1", "lvl2", "lvl3")))
    path = tmp_path_factory.mktemp("tax") / "gs1-classes.txt"
    path.write_text("# GS1 classes\n" + "\n".join(sorted(paths)) + "\n", encoding="utf-8")
    return path


def run_map(data: Path, taxonomy: str, out: Path, *options: str) -> str:
    res = runner.invoke(app, ["map", str(data), "--taxonomy", taxonomy, "--out", str(out), *options])
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def check_output(out: Path, taxonomy: str, depth: int, threshold: float | None) -> pd.DataFrame:
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    levels = [f"level_{i}" for i in range(1, depth + 1)]
    scores = [f"score_level_{i}" for i in range(1, depth + 1)]
    expected = ["_source", "_row", "ID", "path", *levels, *scores, "path_score", "alternatives", "decision"]
    assert list(frame.columns) == expected
    tree = load_taxonomy_source(taxonomy).tree
    for path, *parts in frame[["path", *levels]].itertuples(index=False, name=None):
        assert tree.is_valid_path(path.split(" > ")) and [p for p in parts if p] == path.split(" > ")
    for alternatives in frame["alternatives"]:
        assert all(tree.is_valid_path(a["path"].split(" > ")) for a in json.loads(alternatives))
    conf = frame["path_score"].astype(float)
    assert conf.between(0, 1).all()
    assert set(frame["decision"]) <= {"auto_accepted", "needs_review"}
    auto = conf >= threshold if threshold is not None else conf < 0
    assert (frame["decision"] == "auto_accepted").eq(auto).all()
    return frame


def check_rejects(out: Path, frame: pd.DataFrame) -> None:
    rejects = [json.loads(line) for line in out.with_name(out.name + ".rejects.jsonl").read_text().splitlines()]
    assert len(frame) + len(rejects) == ROWS + 1  # rows in = rows out + rows rejected
    assert [r["record"]["ID"] for r in rejects] == ["no-text"]
    assert rejects[0]["reason"].startswith("empty text") and rejects[0]["row"] == 21
    assert "no-text" not in set(frame["ID"])


def test_map_onto_gs1_by_name(slice_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "gs1.csv"
    said = run_map(slice_file, "gs1", out, "--method", "lexical")  # lexical: no encoding of 4,867 bricks here
    assert f"{ROWS} rows mapped onto gs1 (4,867 categories; 0 auto-accepted, {ROWS} to review)" in said
    assert "no --threshold: every row is left for review" in said and "1 rejected" in said
    frame = check_output(out, "gs1", 3, None)
    check_rejects(out, frame)


def test_map_onto_a_file_of_paths(
    slice_file: Path, class_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SKUTAG_CACHE", str(cache))
    out = tmp_path / "classes.csv"
    said = run_map(slice_file, str(class_file), out, "--top-k", "5", "--threshold", "0.5")
    assert f"{ROWS} rows mapped" in said
    frame = check_output(out, str(class_file), 3, 0.5)
    check_rejects(out, frame)
    assert all(len(json.loads(a)) == 4 for a in frame["alternatives"])
    # the taxonomy's embeddings were cached; a second run reads them and maps the same way
    assert len(list((cache / "embeddings").glob("taxonomy-*.npy"))) == 2
    again = tmp_path / "again.jsonl"
    run_map(slice_file, str(class_file), again, "--top-k", "5")
    assert pd.read_json(again, lines=True)["path"].tolist() == frame["path"].tolist()


def test_map_errors_are_one_line(slice_file: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["map", str(slice_file), "--taxonomy", "nope", "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "unknown taxonomy 'nope'" in res.output
    res = runner.invoke(
        app, ["map", str(slice_file), "--taxonomy", "gs1", "--method", "fuzzy", "--out", str(tmp_path / "o.csv")]
    )
    assert res.exit_code == 2 and "unknown retrieval method 'fuzzy'" in res.output
