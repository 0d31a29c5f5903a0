"""`skutag predict`: categorise catalogue file(s) with a saved model, streaming to CSV/JSONL/Parquet."""

from __future__ import annotations

from pathlib import Path

import typer

from skutag.cli.common import cli_errors, console, out, split_csv


def predict(
    model_dir: Path = typer.Argument(..., help="Model directory written by skutag train."),
    data: list[str] = typer.Argument(
        ...,
        help="Catalogue file(s) to categorise; several are concatenated. With --ray also directories, globs and "
        "s3:// URIs.",
    ),
    out_file: str | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Output file: .csv, .jsonl or .parquet (by suffix). Needed unless --db is given. With --ray a "
        "directory or s3:// prefix for Parquet shards, _rejects.jsonl and _manifest.json.",
    ),
    k: int = typer.Option(3, "--top-k", "-k", help="Alternatives to list per row (including the best)."),
    keep: str = typer.Option(
        "", "--keep", help="More input columns to copy into the output, comma-separated (the id column always is)."
    ),
    chunksize: int = typer.Option(50_000, "--chunksize", help="Rows per chunk (memory stays bounded)."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Also write products + predictions into this tag store (review queue), e.g. skutag.db. With --ray the "
        "driver writes it in batches from what the workers answer (each row once, a retried chunk too).",
    ),
    id_column: str | None = typer.Option(
        None,
        "--id-column",
        help="Product id column, kept in --out and the store's key with --db (default: an id/sku/Product ID-like "
        "column when there is one).",
    ),
    use_ray: bool = typer.Option(
        False, "--ray", help="Predict on a Ray cluster (Ray Data; pip install 'skutag[ray]'): Parquet shards in --out."
    ),
    address: str | None = typer.Option(
        None,
        "--address",
        help="With --ray: the cluster, 'auto' (a local `ray start` one), HOST:PORT or ray://HOST:PORT (default: "
        "start a local one for this run).",
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="With --ray: actors in the pool (default: as many as the cluster's CPUs hold)."
    ),
    cpus_per_worker: float = typer.Option(1.0, "--cpus-per-worker", help="With --ray: CPUs each actor reserves."),
) -> None:
    """Predict a valid category path per row with per-level scores and top-k alternatives."""
    from tqdm import tqdm

    if use_ray:
        _predict_ray(model_dir, data, out_file, k, keep, chunksize, db, id_column, address, workers, cpus_per_worker)
        return
    if address is not None or workers is not None:
        console.print("[bold red]error:[/] --address and --workers go with --ray")
        raise typer.Exit(code=2)

    from skutag.workflows.predict import predict_files

    if db is not None:
        from skutag.workflows.predict_store import predict_into_store

        with cli_errors(), tqdm(unit=" rows", disable=None, file=console.file) as bar:
            bulk = predict_into_store(
                model_dir,
                [Path(d) for d in data],
                db,
                id_column=id_column,
                k=k,
                chunksize=min(chunksize, 5000),
                on_rows=bar.update,
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
            [Path(d) for d in data],
            Path(out_file),
            k=k,
            chunksize=chunksize,
            keep_columns=split_csv(keep),
            on_rows=bar.update,
            id_column=id_column,
        )
    out.print(f"{stats.rows_written:,} rows predicted, {stats.rows_rejected:,} rejected -> {out_file}")


def _predict_ray(
    model_dir: Path,
    data: list[str],
    out_dir: str | None,
    k: int,
    keep: str,
    chunksize: int,
    db: str | None,
    id_column: str | None,
    address: str | None,
    workers: int | None,
    cpus_per_worker: float,
) -> None:
    from tqdm import tqdm

    if db is None and out_dir is None:
        console.print("[bold red]error:[/] give --out DIR and/or --db URL")
        raise typer.Exit(code=2)
    with cli_errors(), tqdm(unit=" rows", disable=None, file=console.file) as bar:
        from skutag.workflows.predict_ray import predict_files_ray

        stats = predict_files_ray(
            model_dir,
            data,
            out_dir,
            k=k,
            chunksize=chunksize,
            keep_columns=split_csv(keep),
            on_rows=bar.update,
            id_column=id_column,
            db=db,
            address=address,
            workers=workers,
            cpus_per_worker=cpus_per_worker,
        )
    if stats.store is not None:
        bulk = stats.store
        out.print(
            f"{bulk.rows_stored:,} rows stored ({bulk.auto_accepted:,} auto-accepted, {bulk.needs_review:,} to "
            f"review), {bulk.rows_rejected:,} rejected -> {db}"
        )
    where = f"-> {out_dir} ({stats.shards} Parquet shards; " if out_dir is not None else "("
    what = f"{stats.rows_written:,} rows predicted, {stats.rows_rejected:,} rejected " if out_dir is not None else ""
    out.print(
        f"{what}{where}{len(stats.nodes)} node(s), up to {stats.workers} worker(s); Ray start-up "
        f"{stats.startup_s:.1f} s, predicting {stats.run_s:.1f} s)"
    )
