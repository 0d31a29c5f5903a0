"""`skutag export-reviews`: human-reviewed labels from the tag store, as training data for skutag train."""

from __future__ import annotations

from pathlib import Path

import typer

from skutag.cli.common import cli_errors, out


def export_reviews(
    db: str = typer.Option(..., "--db", help="Tag store: a SQLite file/URL or postgresql://user@host/db."),
    out_file: Path = typer.Option(..., "--out", "-o", help="Output file: .csv, .jsonl or .parquet (by suffix)."),
) -> None:
    """Write each reviewed product's latest decision (text fields, path, level_1..n, tags).

    tags: one JSON object {name: entry} per row, spans into that row's text included.

    skutag train FILE --model extractor reads the tags column back.
    """
    from skutag.store.export import export_reviews as run

    with cli_errors():
        n = run(db, out_file)
    out.print(f"{n:,} reviewed product(s) -> {out_file}")
    out.print(f"train on them with: skutag train {out_file} --label level_1,level_2,... (as many levels as written)")
