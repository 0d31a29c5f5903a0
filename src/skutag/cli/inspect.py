"""`skutag inspect`: data-quality report (JSON + HTML) for one or more catalogue files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress
from rich.table import Table

from skutag.cli.common import cli_errors, console, label_option, label_sep_option, out, split_csv, text_option


def _headline(summary: dict[str, Any], k: int = 3) -> list[tuple[str, Any]]:
    """The figures worth a glance: rare classes per level, else the first plain (non per-column) counts."""
    rare = [(key, v) for key, v in summary.items() if key.startswith("rare_classes:")]
    plain = [(key, v) for key, v in summary.items() if ":" not in key and key != "share"]
    return rare or plain[:k]


def inspect(
    inputs: list[Path] = typer.Argument(..., help="Catalogue file(s); several files are checked for leakage."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory for quality.json, quality.html, rejects."),
    text: str = text_option(),
    label: str = label_option(),
    label_sep: str | None = label_sep_option(),
    split: str | None = typer.Option(None, "--split", help="Column holding train/validation/test."),
    checks: str = typer.Option("", "--checks", help="Only these checks, comma-separated (default: all)."),
    needed_only: bool = typer.Option(
        False, "--needed-columns-only", help="Read only text/label/split columns (less memory on huge files)."
    ),
) -> None:
    """Check a catalogue for missing values, damaged text, duplicates, label conflicts, leakage and outliers."""
    from skutag.workflows.inspect import inspect_catalogue

    with cli_errors(), Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("inspect", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        report = inspect_catalogue(
            inputs,
            text=split_csv(text),
            label=split_csv(label),
            label_sep=label_sep,
            split=split,
            out_dir=out_dir,
            checks=split_csv(checks) or None,
            progress=progress,
            all_columns=not needed_only,
        )
    table = Table(title=f"{report.rows:,} rows inspected ({report.rejected_rows:,} rejected while reading)")
    table.add_column("check")
    table.add_column("flagged rows", justify="right")
    table.add_column("key figures")
    for r in report.results:
        figures = ", ".join(f"{k}={v}" for k, v in _headline(r.summary))
        table.add_row(r.name, f"{r.n_flagged:,}", figures)
    for name, reason in report.skipped.items():
        table.add_row(name, "-", f"skipped: {reason}")
    out.print(table)
    out.print(f"JSON report: {report.json_path}")
    out.print(f"HTML report: {report.html_path}")
    if report.rejected_rows:
        out.print(f"Rejected rows: {report.rejects_path}")
