"""Running a list of systems on a task, folding in the lead's transformer figures, and the peer table."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import (
    OUT_DIR,
    markdown_table,
    measure,
    measure_here,
    ratio_to_best,
    with_ratio_cells,
)
from benchmarks.peers_tasks import evaluate_system

METRICS = ("f1_weighted", "f1_macro", "train_s", "rows_s_b1", "rows_s_b64", "peak_rss_mb", "size_mb")
LABELS = {
    "system": "system",
    "text": "text",
    "f1_weighted": "weighted F1",
    "f1_macro": "macro F1",
    "train_s": "train s",
    "rows_s_b1": "rows/s batch 1",
    "rows_s_b64": "rows/s batch 64",
    "peak_rss_mb": "peak RSS MB",
    "size_mb": "size MB",
}
TRANSFORMER_JSON = "transformer.json"


@dataclass
class Spec:
    """One row of a peer table: a display name, a system kind with options, the text columns it reads."""

    system: str
    kind: str
    columns: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    peer: bool = True


def run_specs(
    task: str, specs: list[Spec], quick: bool, on_row: Callable[[list[dict[str, Any]]], object] | None = None
) -> list[dict[str, Any]]:
    """Each spec in a fresh process (in this one when ``quick``); a failure becomes a row with its error;
    ``on_row(rows so far)`` after each (to save partial results of a long run)."""
    rows: list[dict[str, Any]] = []
    for s in specs:
        row: dict[str, Any] = {"system": s.system, "text": ", ".join(s.columns), "peer": s.peer, "kind": s.kind}
        print(f"  {task}: {s.system} ({row['text']})", flush=True)
        try:
            m = (measure_here if quick else measure)(evaluate_system, task, s.kind, s.columns, s.options, quick)
            row |= {**m.value, "peak_rss_mb": m.peak_rss_mb, "wall_s": m.wall_s}
        except Exception as exc:  # one failed system must not lose the others' figures
            traceback.print_exc()
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
        if on_row:
            on_row(rows)
    return rows


def transformer_rows(quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """skutag fast / transformer / ensemble rows and the HF pipeline peer from bench_transformer's JSON
    (``bench-out/transformer.json``; the quick file in quick mode); ``([], None)`` when it was not run."""
    path = OUT_DIR / ("transformer-quick.json" if quick else TRANSFORMER_JSON)
    if not path.is_file():
        return [], None
    data = json.loads(path.read_text())
    thr = data.get("throughput") or {}
    source = f"{path.name} ({str(data.get('machine', {}).get('date', '?'))[:10]}, {thr.get('device', 'cpu')})"
    rows = []
    for r in data.get("mwpd", []):
        name = str(r.get("system", ""))
        if name == "linear":
            continue  # this benchmark measures the linear model itself
        row = {
            "system": f"skutag {name}",
            "text": "Name",
            "peer": False,
            "source": source,
            **{k: r.get(k) for k in ("f1_weighted", "f1_macro", "train_s", "peak_rss_mb")},
        }
        if name == "transformer":
            row["rows_s_b1"] = (thr.get("batch_1") or {}).get("skutag_rows_s")
            row["rows_s_b64"] = (thr.get("batch_64") or {}).get("skutag_rows_s")
        rows.append(row)
    if thr:
        rows.append(
            {
                "system": "HF text-classification pipeline (same fine-tuned weights)",
                "text": "Name",
                "peer": True,
                "source": source,
                "rows_s_b1": (thr.get("batch_1") or {}).get("pipeline_rows_s"),
                "rows_s_b64": (thr.get("batch_64") or {}).get("pipeline_rows_s"),
                "f1_weighted_note": "level 3 head only",
            }
        )
    return rows, data


def peer_table(rows: list[dict[str, Any]]) -> str:
    """Ratios to the best peer, then the markdown table (each metric cell: ``value (ratio×)``)."""
    ratio_to_best(rows, METRICS, lambda r: bool(r.get("peer")))
    shown = with_ratio_cells(rows, METRICS)
    for r, d in zip(rows, shown, strict=True):
        if r.get("error"):
            d["f1_weighted"] = f"failed: {r['error'][:80]}"
    return markdown_table(shown, ["system", "text", *METRICS], LABELS)
