"""`skutag clean`: HTML, unicode and whitespace repair, missing-value policies and duplicate removal."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from skutag.cli.common import cli_errors, label_option, label_sep_option, out, split_csv, text_option


def clean(
    inputs: list[Path] = typer.Argument(..., help="Catalogue file(s) to clean (rows are concatenated)."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Cleaned catalogue; format from the extension."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Rejected rows (default: OUT.rejects.jsonl)."),
    text: str = text_option(),
    label: str = label_option(),
    label_sep: str | None = label_sep_option(),
    missing: str = typer.Option(
        "", "--missing", help="Per-column missing-value policy: name=drop,description=fill:,brand=flag."
    ),
    dedup: str = typer.Option("none", "--dedup", help="Drop duplicates keeping the first: none, exact or near."),
    dedup_on: str = typer.Option("", "--dedup-on", help="Column(s) compared for duplicates (default: first text)."),
    near_threshold: float = typer.Option(0.8, "--near-threshold", help="Jaccard similarity of near-duplicates."),
    keep_empty_text: bool = typer.Option(False, "--keep-empty-text", help="Keep rows without any text."),
    chunksize: int = typer.Option(50_000, "--chunksize", help="Rows per chunk held in memory."),
    workers: int | None = typer.Option(
        None, "--workers", help="Processes cleaning chunks (default: 2 for text inputs over 64 MB, else 1)."
    ),
) -> None:
    """Clean catalogues: strip HTML, repair unicode, normalise whitespace and labels, flag or drop duplicates."""
    from skutag.workflows.clean import clean_catalogue

    with cli_errors():
        if dedup not in ("none", "exact", "near"):
            from skutag.errors import ConfigError

            raise ConfigError(f"--dedup must be none, exact or near, got {dedup!r}")
        summary = clean_catalogue(
            inputs,
            out_path,
            text=split_csv(text),
            label=split_csv(label),
            label_sep=label_sep,
            missing=missing or None,
            dedup=dedup,  # type: ignore[arg-type]
            dedup_on=split_csv(dedup_on) or None,
            near_threshold=near_threshold,
            drop_empty_text=not keep_empty_text,
            rejects_path=rejects,
            chunksize=chunksize,
            workers=workers,
            progress=True,
        )
    out.print(
        f"{summary.rows_in:,} rows in, {summary.rows_out:,} out, {summary.rows_rejected:,} rejected "
        f"({summary.duration_s:.1f} s, {summary.rows_per_s:,.0f} rows/s)"
    )
    if summary.rejected_by_reason:
        table = Table(title="rejected rows by reason")
        table.add_column("reason")
        table.add_column("rows", justify="right")
        for reason, n in sorted(summary.rejected_by_reason.items(), key=lambda kv: -kv[1]):
            table.add_row(reason, f"{n:,}")
        out.print(table)
    figures = ", ".join(f"{k}={v:,}" for k, v in summary.counts.items())
    out.print(f"repaired/flagged: {figures}")
    out.print(f"cleaned: {summary.out}")
    out.print(f"rejects: {summary.rejects_path}")
