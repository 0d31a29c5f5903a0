"""`inspect_catalogue` and `skutag inspect` end to end on small files written by the test."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skutag.cli.main import app
from skutag.errors import MissingColumnError
from skutag.quality.checks import CHECKS
from skutag.workflows.inspect import inspect_catalogue

#: Every check but the model-training label_issues (tested by its own author), to keep these tests fast.
FAST = [c.name for c in CHECKS if c.name != "label_issues"]

EVIL = '<script>alert("x")</script> Evil & Co'


def write_jsonl(path: Path, rows: list[dict], bad_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + list(bad_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def catalogue_rows(n: int = 60, prefix: str = "") -> list[dict]:
    rows = []
    for i in range(n):
        cls = f"c{i % 3}"
        rows.append(
            {
                "ID": f"{prefix}{i}",
                "Name": f"{prefix}Widget model {i} steel",
                "Description": f"A {cls} widget number {i}" if i % 10 else "",
                "lvl1": "A" if i % 3 else "B",
                "lvl2": cls,
            }
        )
    rows[0]["Name"] = EVIL
    rows[1]["Name"] = "Caf\ufffd mug"
    rows[2]["Name"] = rows[3]["Name"]
    rows[2]["lvl2"], rows[3]["lvl2"] = "c0", "c1"
    rows[4]["lvl2"] = "lonely"
    return rows


class _Balance(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.scripts += tag == "script"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(tag)
        else:
            self.stack.pop()


def test_inspect_writes_json_html_and_rejects(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "cat.jsonl", catalogue_rows(), bad_lines=("{not json",))
    report = inspect_catalogue([src], label=("lvl1", "lvl2"), out_dir=tmp_path / "out", checks=FAST)
    assert report.rows == 60 and report.rejected_rows == 1
    assert report.rows + report.rejected_rows == 61
    assert (tmp_path / "out" / "rejects.jsonl").read_text().count("\n") == 1

    data = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert data["dataset"]["rows"] == 60 and data["dataset"]["rejected_rows"] == 1
    assert data["dataset"]["text_columns"][0] == "Name"
    checks = data["checks"]
    assert checks["encoding_damage"]["summary"]["damaged_titles"] == 1
    assert checks["exact_duplicates"]["summary"]["duplicate_titles"] == 1
    assert checks["conflicting_labels"]["summary"]["conflicting_groups"] == 1
    assert checks["class_imbalance"]["summary"]["rare_classes:level_2"] == 1
    assert checks["missing_fields"]["details"]["per_column"]["Description"]["total"] == 6
    assert "split_leakage" in data["skipped"] and "label_issues" not in checks
    assert sorted(checks["conflicting_labels"]["examples"]) == [3, 4]  # _row of the two conflicting rows

    html = (tmp_path / "out" / "quality.html").read_text(encoding="utf-8")
    parser = _Balance()
    parser.feed(html)
    assert parser.errors == [] and parser.stack == []
    assert parser.scripts == 0, "product text must be escaped"
    assert "&lt;script&gt;" in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 4  # two label levels, a length histogram, missingness
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert not re.search(r'(src|href)="(?!data:|#)', html), "the page must be self-contained"


def test_two_files_are_checked_for_leakage(tmp_path: Path) -> None:
    train = catalogue_rows(40)
    val = catalogue_rows(20, prefix="v")
    val[0]["Name"], val[1]["Name"] = "Validation only one", "Validation only two"
    val[5]["Name"] = train[7]["Name"]
    a = write_jsonl(tmp_path / "train.jsonl", train)
    b = write_jsonl(tmp_path / "validation.jsonl", val)
    steps: list[str] = []
    report = inspect_catalogue(
        [a, b],
        label=("lvl1", "lvl2"),
        out_dir=None,
        checks=["split_leakage"],
        progress=lambda step, done, total: steps.append(step),
    )
    assert steps == ["reading", "duplicate groups", "split_leakage"]
    res = report.result("split_leakage")
    assert report.spec.split == "_split"
    assert res.summary["leaking_groups"] == 1
    assert res.summary["pair:train/validation"] == 1
    assert report.json_path is None


def test_missing_label_column_is_a_clear_error(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "cat.jsonl", catalogue_rows(10))
    with pytest.raises(MissingColumnError, match="lvl9"):
        inspect_catalogue([src], label=("lvl9",), out_dir=None)


def test_cli_inspect(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "cat.jsonl", catalogue_rows())
    out = tmp_path / "rep"
    args = ["inspect", str(src), "--label", "lvl1,lvl2", "--out", str(out), "--checks", ",".join(FAST)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "exact_duplicates" in result.output and "quality.html" in result.output
    assert (out / "quality.json").exists() and (out / "quality.html").exists()
    bad = CliRunner().invoke(
        app, ["inspect", str(src), "--label", "nope", "--out", str(out), "--checks", "html_remnants"]
    )
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output


def test_costly_check_skipped_by_default_on_large_input(tmp_path: Path) -> None:
    from skutag.quality.checks import CHECKS, CheckInfo, get_check, register_check

    saved = list(CHECKS)
    try:
        register_check(CheckInfo("html_remnants", "skutag.quality.checks.html_remnants", max_default_rows=5))
        src = write_jsonl(tmp_path / "cat.jsonl", catalogue_rows(20))
        report = inspect_catalogue([src], out_dir=None)
        assert "html_remnants" in report.skipped and "costly" in report.skipped["html_remnants"]
        named = inspect_catalogue([src], out_dir=None, checks=["html_remnants"])
        assert named.result("html_remnants").n_flagged == 1
    finally:
        CHECKS[:] = saved
    assert get_check("html_remnants").max_default_rows is None


def test_needed_columns_only(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "cat.jsonl", catalogue_rows())
    full = inspect_catalogue([src], label=("lvl1", "lvl2"), out_dir=None, checks=["encoding_damage", "missing_fields"])
    lean = inspect_catalogue(
        [src], label=("lvl1", "lvl2"), out_dir=None, checks=["encoding_damage", "missing_fields"], all_columns=False
    )
    assert "ID" in full.columns and "ID" not in lean.columns
    assert set(lean.columns) == {"Name", "Description", "lvl1", "lvl2"}
    assert lean.result("encoding_damage").summary == full.result("encoding_damage").summary
    assert lean.rows == full.rows == 60


def test_conflicting_label_details_show_the_labels(tmp_path: Path) -> None:
    """MWPD-shaped offers with one path column of uneven depth: duplicates whose paths differ are listed with
    those paths and the levels they differ at, where the finest level alone was missing (``"labels": []``)."""
    from real_shaped import LEVELS, mwpd_records

    records = mwpd_records(40)
    rows = [{"ID": r["ID"], "Name": r["Name"], "path": " > ".join(r[lv] for lv in LEVELS)} for r in records]
    first, other = records[0], next(r for r in records if r["lvl1"] != records[0]["lvl1"])
    # the same offer from two shops: one classifies it to level 1 only, into another segment
    rows.append({"ID": "dup-1", "Name": first["Name"], "path": other["lvl1"]})
    # a product two shops classify to level 2 only, differently
    rows += [
        {"ID": "dup-2", "Name": "Gift Card", "path": f"{first['lvl1']} > {first['lvl2']}"},
        {"ID": "dup-3", "Name": "gift card", "path": f"{other['lvl1']} > {other['lvl2']}"},
    ]
    src = write_jsonl(tmp_path / "offers.jsonl", rows)
    report = inspect_catalogue(
        [src], text=("Name",), label=("path",), label_sep=" > ", out_dir=tmp_path / "q", checks=["conflicting_labels"]
    )
    saved = json.loads((tmp_path / "q" / "quality.json").read_text())["checks"]["conflicting_labels"]
    groups = {g["title"]: g for g in saved["details"]["exact_groups"]}
    assert report.result("conflicting_labels").summary["conflicting_groups"] == 2
    assert all(g["labels"] for g in groups.values())
    whole = " > ".join(first[lv] for lv in LEVELS)
    assert sorted(groups[first["Name"]]["labels"]) == sorted([whole, other["lvl1"]])
    assert groups[first["Name"]]["levels"] == ["level_1"]
    gift = groups["Gift Card"]
    assert gift["rows"] == 2 and gift["levels"] == ["level_1", "level_2"]
    assert sorted(gift["labels"]) == sorted(
        [f"{first['lvl1']} > {first['lvl2']}", f"{other['lvl1']} > {other['lvl2']}"]
    )
    # the example records show each row's finest given label, not a blank for the shorter paths
    examples = {r["row"]: r for r in saved["example_records"]}
    assert examples[len(records) + 1]["label"] == other["lvl1"]
    assert examples[len(records) + 2]["label"] == first["lvl2"]
