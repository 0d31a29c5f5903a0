"""The compression benchmark's table and target checks (benchmarks/bench_compress.py) on hand-made rows."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import bench_compress as bc
from benchmarks.readme_table import COMPRESS_END, COMPRESS_START, replace_section


def _rows() -> list[dict]:
    common = {"size_mb": 10.0, "peak_rss_mb": 500.0}
    return [
        {"name": "teacher", "system": "T", "f1_weighted": 0.889, "f1_macro": 0.740, "rows_s_b1": 20.0,
         "rows_s_b64": 100.0, "rows_s_big": 120.0, **common},
        {"name": "linear", "system": "L", "f1_weighted": 0.873, "f1_macro": 0.703, "rows_s_b1": 5000.0,
         "rows_s_b64": 9000.0, "rows_s_big": 30000.0, **common},
        {"name": "tf-student-int8", "system": "S8", "f1_weighted": 0.885, "f1_macro": 0.72, "rows_s_b1": 200.0,
         "rows_s_b64": 1000.0, "rows_s_big": 1500.0, **common},
        {"name": "linear-student", "system": "LS", "f1_weighted": 0.880, "f1_macro": 0.725, "rows_s_b1": 5000.0,
         "rows_s_b64": 9000.0, "rows_s_big": 29000.0, **common},
    ]  # fmt: skip


def test_targets_read_the_rows() -> None:
    one = {"rows": [{"x_fasttext": 0.6}]}
    t = bc.targets(_rows(), one)
    # 0.4 points below the teacher at exactly 10x: met
    assert t["near_teacher_at_10x"]["met"]
    # +0.7 weighted / +2.2 macro over the linear model at 29K/s: weighted short of +1, not met
    assert not t["beats_linear_at_its_speed"]["met"]
    fast = {c["system"]: c for c in t["beats_linear_at_its_speed"]["candidates"]}
    assert round(fast["linear-student"]["over_linear_macro_points"], 1) == 2.2
    assert t["one_title_vs_fasttext"] == {"ratio": 0.6, "met": True}
    rows = _rows()
    rows[2]["rows_s_b64"] = 999.0  # just under 10x
    assert not bc.targets(rows, None)["near_teacher_at_10x"]["met"]
    text = bc.targets_text(t)
    assert text.count("**met**") == 2 and text.count("**not met**") == 1
    # the teacher compressed is in the table but is no student: it cannot meet a student's target
    rows = [r for r in _rows() if r["name"] != "tf-student-int8"]
    rows.append({**_rows()[2], "name": "teacher-int8", "system": "T8", "student": False})
    assert not bc.targets(rows, None)["near_teacher_at_10x"]["met"]
    assert {c["system"] for c in bc.targets(rows, None)["near_teacher_at_10x"]["candidates"]} == {"linear-student"}
    # it is listed apart, with its gap and speed
    (other,) = bc.targets(rows, None)["not_students"]
    assert other["system"] == "teacher-int8" and other["weighted_gap_points"] == 0.4 and other["speedup_b64"] == 10.0
    assert "Not students" in bc.targets_text(bc.targets(rows, None))


def test_table_has_points_and_ratios_against_the_teacher(tmp_path: Path) -> None:
    table = bc.render(_rows())
    lines = table.splitlines()
    assert len(lines) == 2 + 4 and lines[0].startswith("| system | weighted F1 | macro F1 | titles/s batch 1")
    assert "| S8 | 0.885 (-0.4) | 0.720 (-2.0) | 200 (10×) | 1,000 (10×) |" in table
    assert lines[2].startswith("| T | 0.889 | 0.740 | 20.0 | 100 |")  # the teacher's own row: no ratios
    saved = {
        "machine": {"date": "2026-12-03T00:00:00", "cpu": "x"},
        "rows": _rows(),
        "targets": bc.targets(_rows(), None),
    }
    doc = f"# t\n\n{COMPRESS_START}\nold\n{COMPRESS_END}\n\nafter\n"
    new = replace_section(doc, bc.section(saved), COMPRESS_START, COMPRESS_END)
    assert "old" not in new and "| S8 |" in new and new.endswith(f"{COMPRESS_END}\n\nafter\n")
    assert json.loads(json.dumps(saved))  # what compress.json holds is plain JSON
