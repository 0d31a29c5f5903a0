"""`skutag predict`: categorise catalogue file(s) with a saved model, streaming to CSV/JSONL/Parquet."""

from __future__ import annotations

from pathlib import Path

import typer

from skutag.cli.common import cli_errors, console, out, split_csv


def predict(
    model_dir: Path = typer.Argument(..., help="Model directory written by skutag train."),
    data: list[Path] = typer.Argument(..., help="Catalogue file(s) to categorise; several are concatenated."),
    out_file: Path | None = typer.Option(
        None, "--out", "-o", help="Output file: .csv, .jsonl or .parquet (by suffix). Needed unless --db is given."
    ),
    k: int = typer.Option(3, "--top-k", "-k", help="Alternatives to list per row (including the best)."),
    keep: str = typer.Option(
        "", "--keep", help="More input columns to copy into the output, comma-separated (the id column always is)."
    ),
    chunksize: int = typer.Option(50_000, "--chunksize", help="Rows per chunk (memory stays bounded)."),
    db: str | None = typer.Option(
        None, "--db", help="Also write products + predictions into this tag store (review queue), e.g. skutag.db."
    ),
    id_column: str | None = typer.Option(
        None,
        "--id-column",
        help="Product id column, kept in --out and the store's key with --db (default: an id/sku/Product ID-like "
        "column when there is one).",
    ),
) -> None:
    """Predict a valid category path per row with per-level scores and top-k alternatives."""
    from tqdm import tqdm

    from skutag.workflows.predict import predict_files

    if db is not None:
        from skutag.workflows.predict_store import predict_into_store

        with cli_errors(), tqdm(unit=" rows", disable=None, file=console.file) as bar:
            bulk = predict_into_store(
                model_dir, data, db, id_column=id_column, k=k, chunksize=min(chunksize, 5000), on_rows=bar.update
            )
        out.print(
            f"{bulk.rows_stored:,} rows stored ({bulk.auto_accepted:,} auto-accepted, {bulk.needs_review:,} to "
            f"review), {bulk.rows_rejected:,} rejected -> {db}"
        )
    if out_file is None:
        if db is None:
            console.print("[bold red]error:[/] give --out FILE and/or --db URL")
            raise typer.Exit(code=2)
        return
    with cli_errors(), tqdm(unit=" rows", disable=None, file=console.file) as bar:
        stats = predict_files(
            model_dir,
            data,
            out_file,
            k=k,
            chunksize=chunksize,
            keep_columns=split_csv(keep),
            on_rows=bar.update,
            id_column=id_column,
        )
    out.print(f"{stats.rows_written:,} rows predicted, {stats.rows_rejected:,} rejected -> {out_file}")
