"""`inspect_catalogue`: read a catalogue, run every applicable quality check, write quality.json and quality.html."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skutag import __version__
from skutag.catalogue.columns import LabelPathStats
from skutag.catalogue.rejects import Reject, RejectSink
from skutag.catalogue.schema import LINE_COL, RESERVED_COLUMNS, ROW_COL, ROW_NUMBERING, SOURCE_COL, ColumnSpec
from skutag.errors import ConfigError, EmptyInputError
from skutag.fsutil import atomic_write_text
from skutag.log import get_logger
from skutag.quality.base import CheckResult
from skutag.quality.checks import CHECKS, CheckInfo, get_check
from skutag.quality.checks.missing_fields import is_placeholder
from skutag.quality.columns import as_text, label_levels, text_columns, title_column
from skutag.quality.groups import exact_title_groups, near_title_groups
from skutag.quality.label_depth import label_depth

log = get_logger(__name__)

#: Column added when several input files are inspected together: the file each row came from.
FILE_SPLIT_COL = "_split"
#: Rejects listed in the report (with their rows and file lines); rejects.jsonl has them all.
REJECT_EXAMPLES = 20
#: Checks that need the (slow) near-duplicate groups; they are computed once when any of these runs.
NEEDS_NEAR = frozenset({"near_duplicates"})


@dataclass
class QualityReport:
    """Everything `inspect` found: dataset summary, check results, skipped checks, output paths."""

    inputs: list[str]
    spec: ColumnSpec
    rows: int
    columns: list[str]
    rejected_rows: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    reject_examples: list[dict[str, Any]] = field(default_factory=list)
    rows_by_source: dict[str, int] = field(default_factory=dict)
    #: The labels' depth (:func:`skutag.quality.label_depth.label_depth`); None without hierarchical labels.
    taxonomy: dict[str, Any] | None = None
    results: list[CheckResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    example_records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    json_path: Path | None = None
    html_path: Path | None = None
    rejects_path: Path | None = None

    def result(self, name: str) -> CheckResult:
        """The result of check ``name`` (KeyError if it did not run)."""
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        checks = {}
        for r in self.results:
            d = r.to_json()
            d["example_records"] = self.example_records.get(r.name, [])
            checks[r.name] = d
        return {
            "skutag_version": __version__,
            "inputs": self.inputs,
            "dataset": {
                "rows": self.rows,
                "columns": self.columns,
                "text_columns": list(self.spec.text),
                "label_columns": list(self.spec.label),
                "label_sep": self.spec.label_sep,
                "split_column": self.spec.split,
                "rows_by_source": self.rows_by_source,
                "rejected_rows": self.rejected_rows,
                "rejects_by_reason": self.rejects_by_reason,
                "reject_examples": self.reject_examples,
                "row_numbering": ROW_NUMBERING,
            },
            "taxonomy": self.taxonomy,
            "checks": checks,
            "skipped": self.skipped,
            "profile": self.profile,
            "timings_s": self.timings_s,
        }


def inspect_catalogue(
    inputs: Sequence[str | Path],
    *,
    text: Sequence[str] = (),
    label: Sequence[str] = (),
    label_sep: str | None = None,
    split: str | None = None,
    out_dir: Path | None = None,
    checks: Sequence[str] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    all_columns: bool = True,
) -> QualityReport:
    """Read ``inputs`` and run the quality checks; with ``out_dir``, write ``quality.json``, ``quality.html``
    and ``rejects.jsonl`` (rows the reader could not use) there.

    With several inputs and no ``split``, each row's split is its file's name (``train.json`` -> ``train``)
    so duplicates shared between files are reported as leakage. ``checks`` selects checks by name (default:
    all applicable); ``options`` passes keyword options per check, e.g. ``{"content_outliers": {"share": 0.02}}``.
    ``progress(step, done, total)`` is called before each step (reading, duplicate groups, each check).
    ``all_columns=False`` reads only the text, label and split columns (less memory on wide or huge files;
    missing values are then checked in those columns only).
    """
    from skutag.catalogue.columns import resolve_spec
    from skutag.catalogue.reader import read_catalogue

    if not inputs:
        raise ConfigError("no input files given")
    paths = [Path(p) for p in inputs]
    selected = _select(checks)
    options = options or {}
    timings: dict[str, float] = {}
    out_dir = Path(out_dir) if out_dir is not None else None
    rejects_path = out_dir / "rejects.jsonl" if out_dir is not None else None
    total = len(selected) + 2
    report_progress = progress or (lambda step, done, total: None)
    report_progress("reading", 0, total)
    t0 = time.perf_counter()
    usecols = None if all_columns else _needed_columns(paths[0], text, label, label_sep, split)
    with RejectSink(rejects_path) as rejects:
        df = read_catalogue(paths, rejects=rejects, usecols=usecols, lines=True)
    timings["read"] = time.perf_counter() - t0
    if len(df) == 0:
        raise EmptyInputError("no usable rows", source=", ".join(map(str, paths)))
    df = df.reset_index(drop=True)
    if split is None and len(paths) > 1:
        df[FILE_SPLIT_COL] = _split_from_sources(df, paths)
        split = FILE_SPLIT_COL
    spec = resolve_spec(list(df.columns), text=tuple(text), label=tuple(label), label_sep=label_sep)
    spec = dataclasses.replace(spec, split=split)
    if split is not None and split not in df.columns:
        from skutag.errors import MissingColumnError

        raise MissingColumnError(f"split column {split!r} not found", source=str(paths[0]), column=split)

    report = QualityReport(
        inputs=[str(p) for p in paths],
        spec=spec,
        rows=len(df),
        columns=[c for c in df.columns if c not in RESERVED_COLUMNS and c != FILE_SPLIT_COL],
        rejected_rows=rejects.count,
        rejects_by_reason=dict(rejects.by_reason),
        reject_examples=[_reject_example(r) for r in rejects.examples[:REJECT_EXAMPLES]],
        rows_by_source=_rows_by_source(df),
        rejects_path=rejects_path,
    )
    path_stats = LabelPathStats()
    labels = label_levels(df, spec, path_stats)
    if labels is not None:
        report.taxonomy = label_depth(labels, path_stats)
        if report.taxonomy["warning"]:
            log.warning("%s", report.taxonomy["warning"])
    # each row's finest given label (a path that stops early shows its last level, not a blank)
    finest = labels.ffill(axis=1).iloc[:, -1] if labels is not None and labels.shape[1] else None
    del labels
    report_progress("duplicate groups", 1, total)
    shared = _shared_groups(df, spec, selected, options, timings)
    for i, info in enumerate(selected):
        report_progress(info.name, i + 2, total)
        reason = info.applicable(spec, df)
        if reason is None and checks is None and info.max_default_rows is not None and len(df) > info.max_default_rows:
            reason = f"costly on {len(df):,} rows (over {info.max_default_rows:,}); name it in checks to run it"
        if reason is not None:
            report.skipped[info.name] = reason
            continue
        opts = dict(options.get(info.name, {}))
        if info.name == "missing_fields":
            opts.setdefault("columns", report.columns)
        if info.uses_groups:
            opts.update(shared)
        t = time.perf_counter()
        try:
            result = info.run(df, spec, **opts)
        except ImportError as exc:
            report.skipped[info.name] = f"not available: {exc}"
            continue
        timings[info.name] = time.perf_counter() - t
        log.debug("%s: %d rows flagged (%.1f s)", info.name, result.n_flagged, timings[info.name])
        report.results.append(result)
        report.example_records[info.name] = _example_records(df, spec, result, finest)
    report.profile = _profile(df, spec, report)
    report.timings_s = {k: round(v, 3) for k, v in timings.items()}
    if out_dir is not None:
        report_progress("writing report", total, total)
        write_report(report, out_dir)
    return report


def _needed_columns(
    path: Path, text: Sequence[str], label: Sequence[str], label_sep: str | None, split: str | None
) -> list[str]:
    """The columns the checks read, resolved against the first rows of ``path``."""
    from skutag.catalogue.columns import resolve_spec
    from skutag.catalogue.reader import iter_catalogue

    chunks = iter_catalogue(path, chunksize=200, rejects=RejectSink(None))
    try:
        columns = list(next(chunks).columns)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    spec = resolve_spec(columns, text=tuple(text), label=tuple(label), label_sep=label_sep)
    needed = [*spec.text, *spec.label, *([split] if split else [])]
    return [c for c in dict.fromkeys(needed) if c not in RESERVED_COLUMNS]


def write_report(report: QualityReport, out_dir: Path) -> None:
    """Write ``quality.json`` and ``quality.html`` into ``out_dir`` (atomically) and record their paths."""
    from skutag.quality.html import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    data = report.to_json()
    report.json_path = out_dir / "quality.json"
    report.html_path = out_dir / "quality.html"
    atomic_write_text(report.json_path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    atomic_write_text(report.html_path, render_html(data))


def _select(checks: Sequence[str] | None) -> list[CheckInfo]:
    if checks is None:
        return [c for c in CHECKS if c.default]
    return [get_check(name) for name in checks]


def _shared_groups(
    df: pd.DataFrame,
    spec: ColumnSpec,
    selected: list[CheckInfo],
    options: dict[str, dict[str, Any]],
    timings: dict[str, float],
) -> dict[str, np.ndarray]:
    """Duplicate groups computed once for every check that uses them."""
    if not any(c.uses_groups for c in selected):
        return {}
    t = time.perf_counter()
    shared = {"exact_groups": exact_title_groups(df, spec)}
    timings["exact_groups"] = time.perf_counter() - t
    if any(c.name in NEEDS_NEAR for c in selected):
        near_opts = {k: v for k, v in options.get("near_duplicates", {}).items() if k in ("threshold", "num_perm")}
        t = time.perf_counter()
        try:
            shared["near_groups"] = near_title_groups(df, spec, **near_opts)
        except ImportError as exc:
            log.warning("near-duplicate detection not available: %s", exc)
        timings["near_groups"] = time.perf_counter() - t
    return shared


def _split_from_sources(df: pd.DataFrame, paths: list[Path]) -> pd.Series:
    """Split name per row from its source file: the file name without extensions (full name if ambiguous)."""
    stems = {str(p): p.name.split(".")[0] or p.name for p in paths}
    if len(set(stems.values())) < len(stems):
        stems = {str(p): str(p) for p in paths}
    source = as_text(df[SOURCE_COL]) if SOURCE_COL in df.columns else pd.Series([str(paths[0])] * len(df))
    mapped = source.map(lambda s: stems.get(s) or stems.get(str(Path(s))) or Path(s).name.split(".")[0])
    return mapped.astype("str")


def _rows_by_source(df: pd.DataFrame) -> dict[str, int]:
    if SOURCE_COL not in df.columns:
        return {}
    return {str(k): int(v) for k, v in df[SOURCE_COL].value_counts(sort=False).items()}


def _example_records(
    df: pd.DataFrame, spec: ColumnSpec, result: CheckResult, finest: pd.Series | None, k: int = 10
) -> list[dict[str, Any]]:
    """The flagged rows behind ``result.examples`` (worst first): source, row, title, finest label, score."""
    idx = np.flatnonzero(result.flags)
    if len(idx) == 0:
        return []
    idx = idx[np.argsort(-result.scores[idx], kind="stable")][:k]
    title = title_column(df, spec)
    records = []
    for i in map(int, idx):
        rec: dict[str, Any] = {}
        if SOURCE_COL in df.columns and df[SOURCE_COL].nunique() > 1:
            rec["source"] = str(df[SOURCE_COL].iat[i])
        rec["row"] = _py(df[ROW_COL].iat[i]) if ROW_COL in df.columns else int(i) + 1
        line: Any = df[LINE_COL].iat[i] if LINE_COL in df.columns else None
        if line is not None and not pd.isna(line):
            rec["line"] = int(line)
        if title is not None:
            rec["title"] = _clip(df[title].iat[i])
        if finest is not None:
            rec["label"] = _clip(finest.iat[i])
        rec["score"] = round(float(result.scores[i]), 4)
        records.append(rec)
    return records


def _reject_example(r: Reject) -> dict[str, Any]:
    rec: dict[str, Any] = {"source": r.source, "row": r.row}
    if r.line is not None:
        rec["line"] = r.line
    rec["reason"] = r.reason
    return rec


def _profile(df: pd.DataFrame, spec: ColumnSpec, report: QualityReport) -> dict[str, Any]:
    """Per-column missing share and per-text-column length histograms (for the plots)."""
    try:
        per_column = report.result("missing_fields").details["per_column"]
        missing = {col: round(v["total"] / max(len(df), 1), 4) for col, v in per_column.items()}
    except KeyError:
        missing = {}
        for col in report.columns:
            text = as_text(df[col]).str.strip()
            lacking = df[col].isna().to_numpy() | (text == "").to_numpy() | is_placeholder(text)
            missing[col] = round(float(lacking.mean()), 4)
    hists = {}
    for col in text_columns(df, spec):
        length = as_text(df[col]).str.len().to_numpy()
        length = length[length > 0]
        if len(length) == 0:
            continue
        edges = np.unique(np.geomspace(1, max(2, int(length.max()) + 1), 40).round())
        counts, edges = np.histogram(length, bins=edges)
        hists[col] = {"counts": counts.tolist(), "edges": edges.tolist()}
    return {"missing_share": missing, "length_hist": hists}


def _clip(v: Any, n: int = 200) -> str:
    s = "" if v is None or (isinstance(v, float) and v != v) else str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
