"""The benchmark harness pieces: ratios to the best peer, tables, rewriting docs/benchmarks.md, cost projections."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from benchmarks import bench_cost, peers_report, readme_table
from benchmarks.common import markdown_table, ratio_to_best, with_ratio_cells


def _rows() -> list[dict]:
    return [
        {"system": "ours", "peer": False, "f1_weighted": 0.9, "train_s": 30.0, "size_mb": None},
        {"system": "a", "peer": True, "f1_weighted": 0.8, "train_s": 20.0, "size_mb": 5.0},
        {"system": "b", "peer": True, "f1_weighted": 0.6, "train_s": 10.0, "size_mb": 10.0},
    ]


def test_ratio_to_best_uses_best_peer_per_direction() -> None:
    rows = ratio_to_best(_rows(), ["f1_weighted", "train_s", "size_mb"], lambda r: r["peer"])
    ours, a, b = rows
    assert ours["f1_weighted ×best"] == pytest.approx(0.9 / 0.8)  # best F1 = highest peer (ours excluded)
    assert b["f1_weighted ×best"] == pytest.approx(0.6 / 0.8)
    assert ours["train_s ×best"] == pytest.approx(3.0)  # best time = lowest peer
    assert a["train_s ×best"] == pytest.approx(2.0)
    assert ours["size_mb ×best"] is None  # missing value stays missing
    assert b["size_mb ×best"] == pytest.approx(2.0)


def test_ratio_to_best_without_peers_leaves_none() -> None:
    rows = ratio_to_best([{"system": "x", "peer": False, "train_s": 3.0}], ["train_s"], lambda r: r["peer"])
    assert rows[0]["train_s ×best"] is None


def test_ratio_cells_and_labelled_table() -> None:
    rows = ratio_to_best(_rows(), ["f1_weighted"], lambda r: r["peer"])
    cells = with_ratio_cells(rows, ["f1_weighted"])
    assert cells[1]["f1_weighted"] == "0.800 (1.00×)"
    table = markdown_table(cells, ["system", "f1_weighted"], {"f1_weighted": "weighted F1"})
    lines = table.splitlines()
    assert lines[0] == "| system | weighted F1 |"
    assert lines[2] == "| ours | 0.900 (1.12×) |"
    assert len(lines) == 5


def test_peer_table_marks_failures_and_notes() -> None:
    rows = [
        *_rows(),
        {"system": "broken", "peer": True, "error": "RuntimeError: boom"},
        {"system": "pipe", "peer": True, "f1_weighted_note": "not scored"},
    ]
    table = peer_table_text(rows)
    assert "failed: RuntimeError: boom" in table
    assert "| pipe |  | not scored |" in table


def peer_table_text(rows: list[dict]) -> str:
    return peers_report.peer_table(rows)


def test_transformer_rows_read_lead_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers_report, "OUT_DIR", tmp_path)
    assert peers_report.transformer_rows(False) == ([], None)
    payload = {
        "machine": {"date": "2026-11-28T20:00:00+00:00"},
        "mwpd": [
            {"system": "linear", "f1_weighted": 0.87},
            {"system": "transformer", "f1_weighted": 0.85, "f1_macro": 0.65, "train_s": 100.0},
        ],
        "throughput": {"device": "cpu", "batch_1": {"skutag_rows_s": 70.0, "pipeline_rows_s": 80.0}},
    }
    (tmp_path / "transformer.json").write_text(json.dumps(payload))
    rows, data = peers_report.transformer_rows(False)
    assert data == payload
    names = [r["system"] for r in rows]
    assert names == ["skutag transformer", "HF text-classification pipeline (same fine-tuned weights)"]
    assert rows[0]["rows_s_b1"] == 70.0 and rows[0]["peer"] is False
    assert rows[1]["rows_s_b1"] == 80.0 and rows[1]["peer"] is True


DOC = "# Title\n\nintro\n\n## Benchmarks\n\ntext\n\n<!-- bench:start -->\nold table\n<!-- bench:end -->\n\nafter\n"


def test_replace_section_keeps_the_rest_and_is_idempotent() -> None:
    once = readme_table.replace_section(DOC, "NEW\n")
    assert once.startswith("# Title\n\nintro\n\n## Benchmarks\n\ntext\n\n<!-- bench:start -->\nNEW\n<!-- bench:end -->")
    assert once.endswith("<!-- bench:end -->\n\nafter\n")
    assert "old table" not in once
    assert readme_table.replace_section(once, "NEW") == once


@pytest.mark.parametrize("text", ["no markers", "<!-- bench:end --> x <!-- bench:start -->"])
def test_replace_section_needs_markers_in_order(text: str) -> None:
    with pytest.raises(ValueError, match="markers"):
        readme_table.replace_section(text, "x")


def _machine() -> dict:
    return {
        "date": "2026-11-28T21:00:00+00:00",
        "cpu": "Test CPU",
        "cores": 2,
        "memory_gb": 23.0,
        "cpu_flags": ["avx2"],
        "python": "3.11",
        "versions": {"numpy": "2.0", "fasttext-wheel": "0.9.2"},
    }


def test_update_doc_from_results(tmp_path: Path) -> None:
    out = tmp_path / "bench-out"
    out.mkdir()
    peers = {"machine": _machine(), "mwpd": _rows(), "pave": [{"system": "dict", "precision": 0.5}]}
    (out / "peers.json").write_text(json.dumps(peers))
    cost = {"machine": _machine(), "rows": [{"rows": 10000, "system": "fastText", "fit_s": 3.0}]}
    (out / "cost.json").write_text(json.dumps(cost))
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC)
    assert readme_table.update_doc(doc, out) is True
    text = doc.read_text()
    assert text.startswith("# Title\n\nintro\n\n## Benchmarks\n\ntext\n\n<!-- bench:start -->\n")
    assert text.endswith("<!-- bench:end -->\n\nafter\n")
    assert "Test CPU · 2 cores" in text and "numpy 2.0" in text and "fasttext-wheel 0.9.2" in text
    assert "| a | " in text and "| 10,000 | fastText | 3.000 |" in text
    assert "Demo catalogue: not run yet" in text and "Linear model solvers: not run yet" in text
    assert readme_table.update_doc(doc, out) is False
    assert doc.read_text() == text


def test_readme_table_cli_without_markers(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("no markers here\n")
    assert readme_table.main(["--doc", str(doc), "--results", str(tmp_path)]) == 2
    assert doc.read_text() == "no markers here\n"


def test_a_machine_without_the_results_keeps_the_published_tables(tmp_path: Path) -> None:
    """Running one benchmark with ``--docs`` on a machine that never ran the others must not blank their tables."""
    doc = tmp_path / "benchmarks.md"
    text = f"intro\n{readme_table.START}\n| published | table |\n{readme_table.END}\n"
    doc.write_text(text)
    assert readme_table.update_doc(doc, tmp_path / "empty") is False
    assert doc.read_text() == text


def test_generated_tables_go_to_docs_benchmarks() -> None:
    """The default target is docs/benchmarks.md, whose section between the markers is already in place."""
    assert readme_table.DOC == readme_table.REPO / "docs" / "benchmarks.md"
    text = readme_table.DOC.read_text(encoding="utf-8")
    i = text.index(readme_table.START) + len(readme_table.START)
    body = text[i : text.index(readme_table.END)]
    assert readme_table.replace_section(text, body) == text  # rewriting the same tables changes nothing


def test_power_law_projection() -> None:
    assert bench_cost.project([(10, 1.0)], 1000) is None
    assert bench_cost.project([(10, 1.0), (100, 10.0)], 1000) == pytest.approx(100.0)
    assert bench_cost.project([(10, 1.0), (100, 100.0)], 1000) == pytest.approx(10_000.0)  # quadratic


def test_skip_reason_projects_time_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_cost, "available_mb", lambda: math.inf)
    fast = [
        {"rows": 10, "train_wall_s": 1.0, "train_peak_rss_mb": 100.0},
        {"rows": 100, "train_wall_s": 2.0, "train_peak_rss_mb": 110.0},
    ]
    assert bench_cost._skip_reason(fast, 1000) is None
    slow = [{**fast[0]}, {**fast[1], "train_wall_s": 200.0}]
    assert "projected at 667 min" in str(bench_cost._skip_reason(slow, 1000))
    monkeypatch.setattr(bench_cost, "available_mb", lambda: 150.0)
    assert "peak RSS projected" in str(bench_cost._skip_reason(fast, 1000))
    # skutag linear changes solver with the rows: a projection only extrapolates points of the same solver
    monkeypatch.setattr(bench_cost, "available_mb", lambda: math.inf)
    skutag = [{**r, "system": "skutag linear", "rows": r["rows"] * 1000} for r in slow]
    assert [bench_cost.regime("skutag linear", n) for n in (10_000, 100_000, 1_000_000)] == ["liblinear", "sgd", "sgd"]
    assert bench_cost._skip_reason(skutag, 1_000_000) is None  # one sgd point: no projection, run it
    other = [{**r, "system": "fastText"} for r in skutag]
    assert "projected at" in str(bench_cost._skip_reason(other, 1_000_000))


def test_combine_merges_saved_rows_and_notes_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_cost, "OUT_DIR", tmp_path)
    monkeypatch.setattr("benchmarks.common.OUT_DIR", tmp_path)
    monkeypatch.setattr(bench_cost, "mwpd_available", lambda: True)
    a = {"rows": [{"rows": 10_000, "system": "fastText", "train_wall_s": 1.0, "fit_s": 0.9}]}
    b = {"rows": [{"rows": 100_000, "system": "fastText", "train_wall_s": 10.0, "fit_s": 9.0}]}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    md = bench_cost.run(merge_from=("a", "b"), save_as="c", combine=True)
    rows = json.loads((tmp_path / "c.json").read_text())["rows"]
    assert len(rows) == len(bench_cost.SIZES) * len(bench_cost.SYSTEMS)
    got = {(r["rows"], r["system"]): r for r in rows}
    assert got[(100_000, "fastText")]["fit_s"] == 9.0
    assert got[(1_000_000, "fastText")]["note"] == "not measured in this run"  # projected 100 s: not a skip
    assert got[(10_000, "skutag linear")]["note"] == "not measured in this run"
    assert "| 100,000 | fastText | 9.000 |" in md


def test_transformer_stages_combine_into_the_run_payload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage results saved by ``bench_transformer --stages ... --out`` make the same transformer.json as ``run``."""
    from benchmarks import bench_transformer

    out = tmp_path / "out"
    monkeypatch.setattr("benchmarks.common.OUT_DIR", out)
    stages = tmp_path / "stages"
    figures = {"f1_weighted": 0.8, "f1_macro": 0.6, "stage_wall_s": 10.0, "peak_rss_mb": 900}
    results = {
        "linear/linear": {"system": "linear", **figures, "f1_weighted": 0.87},
        "fast/fast": {"system": "fast", **figures},
        "full/full": {"system": "transformer", **figures, "peak_rss_mb": 1400},
        "post/ensemble": {
            "system": "ensemble (2-fold tuned)",
            **figures,
            "f1_weighted": 0.89,
            "in_sample": {"system": "in-sample"},
            "ten_fold": {"system": "10-fold", "f1_weighted": 0.9, "f1_macro": 0.66},
        },
        "post/throughput_cpu": {"batch_1": {"speedup": 1.7}, "batch_64": {"speedup": 2.0}},
        "extractor/extractor": {"precision": 0.8, "recall": 0.8, "f1": 0.8},
    }
    for name, payload in results.items():
        (stages / name).parent.mkdir(parents=True, exist_ok=True)
        (stages / f"{name}.json").write_text(json.dumps(payload))
    bench_transformer.combine_stages(stages)
    saved = json.loads((out / "transformer.json").read_text())
    assert [r["system"] for r in saved["mwpd"]][:3] == ["linear", "fast", "transformer"]
    assert saved["mwpd"][2]["peak_rss_mb"] == 1400 and saved["mwpd"][2]["wall_s"] == 10.0
    assert saved["targets"]["ensemble_minus_linear_weighted"] == pytest.approx(0.02)
    assert saved["targets"]["ensemble_10_fold_minus_linear_macro"] == pytest.approx(0.06)
    assert [r["system"] for r in saved["mwpd"]][-2:] == ["10-fold", "in-sample"]
    assert saved["targets"]["speedup_batch_64"] == 2.0 and "machine" in saved
    (stages / "extractor" / "extractor.json").unlink()
    with pytest.raises(FileNotFoundError, match="extractor"):
        bench_transformer.combine_stages(stages)


def test_peers_refresh_rereads_the_transformer_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench_peers --refresh-transformer`` swaps the transformer rows and keeps the peers' rows and machine."""
    from benchmarks import bench_peers

    monkeypatch.setattr("benchmarks.common.OUT_DIR", tmp_path)
    monkeypatch.setattr(peers_report, "OUT_DIR", tmp_path)
    own = {"system": "skutag linear", "text": "Name", "peer": False, "f1_weighted": 0.87}
    peer = {"system": "fastText", "text": "Name", "peer": True, "f1_weighted": 0.78}
    stale = {"system": "skutag transformer", "source": "transformer-quick.json (old)", "f1_weighted": 0.5}
    saved = {"machine": {"date": "2026-01-01"}, "mwpd": [own, peer, stale], "pave": []}
    (tmp_path / "peers-quick.json").write_text(json.dumps(saved))
    fresh = {"mwpd": [{"system": "transformer", "f1_weighted": 0.86}], "throughput": {}, "extractor": None}
    (tmp_path / "transformer-quick.json").write_text(json.dumps(fresh))
    md = bench_peers.refresh_transformer(quick=True)
    out = json.loads((tmp_path / "peers-quick.json").read_text())
    assert out["machine"] == {"date": "2026-01-01"}
    systems = [(r["system"], r["f1_weighted"]) for r in out["mwpd"]]
    assert systems == [("skutag linear", 0.87), ("fastText", 0.78), ("skutag transformer", 0.86)]
    assert "0.860" in md and "0.500" not in md
