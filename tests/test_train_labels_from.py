"""`skutag train DATA --labels-from MAPPING` through the CLI on a real MWPD slice: a `skutag map` output (lexical
retrieval, quick) whose paths are set to the offers' GS1 classes, ten T-shirts among them relabelled as clothing
accessories. The rows join by id, cleanlab drops the relabelled rows (among few others), every row is used or
written to the rejects with its reason, the card says where the labels came from, and the model predicts valid
paths. A mapping of other data, or one that cannot be joined, is refused with a clear error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from mwpd_map_data import class_taxonomy, mwpd, name_path, write_jsonl
from skutag.cli.main import app
from skutag.taxonomy.sources import load_taxonomy_source

runner = CliRunner()
ROWS = 300
TOPS = "Clothing > Clothing > Upper Body Wear/Tops"
NOISE = "Clothing > Clothing > Clothing Accessories"


def invoke(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, " ".join(res.output.split())


@dataclass
class Case:
    """The offers (with a ``truth`` column of name paths), the class taxonomy, the `skutag map` output, the same
    with the true paths and ten T-shirts relabelled, and those ten ids."""

    data: Path
    taxonomy: Path
    mapping: Path
    noisy: Path
    flipped: set[str]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    tmp = tmp_path_factory.mktemp("labels-from")
    records = [{**r, "truth": name_path(r)} for r in mwpd("validation")[:ROWS]]
    records.insert(20, {**records[0], "ID": "no-text", "Name": "", "Description": ""})
    data = write_jsonl(tmp / "offers.jsonl", records)
    taxonomy = class_taxonomy(tmp)
    mapping = tmp / "mapped.csv"
    code, output = invoke("map", str(data), "-t", str(taxonomy), "-o", str(mapping), "--method", "lexical")
    assert code == 0, output
    frame = pd.read_csv(mapping, dtype=str, keep_default_na=False)
    frame["path"] = frame["ID"].map({str(r["ID"]): r["truth"] for r in records})
    flipped = frame.index[frame["path"] == TOPS][:10]
    frame.loc[flipped, "path"] = NOISE
    noisy = tmp / "noisy.csv"
    frame.to_csv(noisy, index=False)
    return Case(data, taxonomy, mapping, noisy, set(frame.loc[flipped, "ID"]))


def rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_labels_from_joins_filters_and_trains(case: Case, tmp_path: Path) -> None:
    model = tmp_path / "model"
    args = ["train", str(case.data), "--labels-from", str(case.noisy), "--out", str(model), "--text", "Name"]
    code, output = invoke(*args, "--valid", str(case.data), "--label", "truth", "--label-sep", " > ")
    assert code == 0, output
    assert "joined by id column 'ID'" in output and "label issue (cleanlab)" in output
    assert "model level_1: accuracy" in output and "mapper level_3: accuracy" in output

    dropped = rejects(tmp_path / "model.rejects.jsonl")
    noisy = {str(r["record"]["ID"]) for r in dropped if str(r["reason"]).startswith("label issue (cleanlab)")}
    assert len(noisy & case.flipped) >= 8
    assert len(noisy - case.flipped) < 0.2 * ROWS
    assert [str(r["record"]["ID"]) for r in dropped if "empty" in str(r["reason"]).lower()] == ["no-text"]

    meta = json.loads((model / "meta.json").read_text(encoding="utf-8"))
    assert meta["rows_used"] + meta["rows_rejected"] == ROWS + 1 == meta["labels_from"]["rows_read"]
    assert meta["rows_rejected"] == len(dropped)
    assert meta["labels_from"]["mapping"] == str(case.noisy) and meta["labels_from"]["noise_filter"] == "cleanlab"
    assert meta["validation"]["mapper_metrics"]["level_1"]["accuracy"] > 0.9  # the (edited) mapping is nearly the truth

    pred = tmp_path / "pred.csv"
    code, output = invoke("predict", str(model), str(case.data), "--out", str(pred))
    assert code == 0, output
    tree = load_taxonomy_source(case.taxonomy).tree
    paths = pd.read_csv(pred, dtype=str, keep_default_na=False)["path"]
    assert len(paths) == ROWS and all(tree.is_valid_path(tuple(p.split(" > "))) for p in paths)


def test_labels_from_by_record_number_and_min_score(case: Case, tmp_path: Path) -> None:
    """Without an id in the mapping, rows join by file and record number (the blank row shifts the order); the
    mapper's unsure rows dropped, its paths cut to two levels."""
    mapping = pd.read_csv(case.mapping, dtype=str, keep_default_na=False).drop(columns=["ID"])
    no_ids = tmp_path / "no-ids.csv"
    mapping.to_csv(no_ids, index=False)
    floor = float(mapping["path_score"].astype(float).median())
    model = tmp_path / "model"
    args = ["train", str(case.data), "--labels-from", str(no_ids), "--out", str(model), "--text", "Name"]
    code, output = invoke(*args, "--noise-filter", "none", "--min-map-score", str(floor), "--levels", "2")
    assert code == 0, output
    assert "joined by file and record number" in output
    meta = json.loads((model / "meta.json").read_text(encoding="utf-8"))
    low = meta["labels_from"]["dropped"]["mapper's confidence below --min-map-score"]
    assert ROWS // 2 - 5 <= low <= ROWS // 2
    assert meta["rows_used"] == ROWS - low
    # each row kept its own mapped path: the model's classes are the paths of the rows at or above the floor
    kept = mapping[mapping["path_score"].astype(float) >= floor]["path"].str.split(" > ").str[0]
    assert meta["label_set"]["level_1"] == sorted(set(kept))
    assert sorted(meta["label_set"]) == ["level_1", "level_2"]  # --levels 2: the mapped paths cut to two levels


def test_labels_from_mapping_of_other_rows(case: Case, tmp_path: Path) -> None:
    mapping = pd.read_csv(case.mapping, dtype=str, keep_default_na=False).iloc[25:]
    partial = tmp_path / "partial.csv"
    mapping.to_csv(partial, index=False)
    args = ["train", str(case.data), "--labels-from", str(partial), "--out", str(tmp_path / "m"), "--text", "Name"]
    code, output = invoke(*args)
    assert code == 2
    assert "25 of 300 rows with text have no row in MAPPING" in output and "was MAPPING made from this data?" in output
    # no id, no record numbers, other length: refused, with what to do
    bare = tmp_path / "bare.csv"
    mapping[["path", "path_score", "decision"]].to_csv(bare, index=False)
    data = pd.read_json(case.data, lines=True, dtype=False).drop(columns=["ID"])
    plain = tmp_path / "plain.csv"
    data.to_csv(plain, index=False)
    code, output = invoke(
        "train", str(plain), "--labels-from", str(bare), "--out", str(tmp_path / "m"), "--text", "Name"
    )
    assert code == 2
    assert "no id column to join on" in output and "--id-column" in output
    assert not (tmp_path / "m").exists()
