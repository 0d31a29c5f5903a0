"""`skutag clean`: HTML, unicode and whitespace repair, missing-value policies and duplicate removal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from skutag.cli.common import cli_errors, console, label_option, label_sep_option, out, split_csv, text_option

if TYPE_CHECKING:
    from skutag.cleaning.summary import CleanSummary
    from skutag.workflows.clean_ray import RayCleanSummary


def clean(
    inputs: list[str] = typer.Argument(
        ...,
        help="Catalogue file(s) to clean (rows are concatenated). With --ray also directories, globs and s3:// URIs.",
    ),
    out_path: str = typer.Option(
        ...,
        "--out",
        "-o",
        help="Cleaned catalogue; format from the extension. With --ray a directory or s3:// prefix for Parquet "
        "shards, _rejects.jsonl and _manifest.json.",
    ),
    rejects: str | None = typer.Option(
        None, "--rejects", help="Rejected rows (default: OUT.rejects.jsonl; with --ray OUT/_rejects.jsonl)."
    ),
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
        None,
        "--workers",
        help="Processes cleaning chunks (default: 2 for text inputs over 64 MB, else 1); with --ray the actors "
        "(default: as many as the cluster's CPUs hold).",
    ),
    use_ray: bool = typer.Option(
        False,
        "--ray",
        help="Clean on a Ray cluster (the ray extra): duplicates found across all shards, Parquet shards in --out.",
    ),
    address: str | None = typer.Option(
        None, "--address", help="With --ray: the cluster, 'auto', HOST:PORT or ray://HOST:PORT (default: a local one)."
    ),
    cpus_per_worker: float = typer.Option(1.0, "--cpus-per-worker", help="With --ray: CPUs each actor reserves."),
) -> None:
    """Clean catalogues: strip HTML, repair unicode, normalise whitespace and labels, flag or drop duplicates."""
    if address is not None and not use_ray:
        console.print("[bold red]error:[/] --address goes with --ray")
        raise typer.Exit(code=2)
    with cli_errors():
        if dedup not in ("none", "exact", "near"):
            from skutag.errors import ConfigError

            raise ConfigError(f"--dedup must be none, exact or near, got {dedup!r}")
        options: dict[str, Any] = {
            "text": split_csv(text),
            "label": split_csv(label),
            "label_sep": label_sep,
            "missing": missing or None,
            "dedup": dedup,
            "dedup_on": split_csv(dedup_on) or None,
            "near_threshold": near_threshold,
            "drop_empty_text": not keep_empty_text,
            "rejects_path": rejects,
            "chunksize": chunksize,
            "workers": workers,
        }
        on_ray = _clean_ray(inputs, out_path, options, address, cpus_per_worker) if use_ray else None
        if on_ray is None:
            from skutag.workflows.clean import clean_catalogue

            summary: CleanSummary = clean_catalogue([Path(p) for p in inputs], Path(out_path), progress=True, **options)
        else:
            summary = on_ray
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
    if on_ray is not None:
        out.print(
            f"cleaned: {out_path} ({on_ray.shards} Parquet shards; {len(on_ray.nodes)} node(s), up to "
            f"{on_ray.workers} worker(s); Ray start-up {on_ray.startup_s:.1f} s)"
        )
        out.print(f"rejects: {rejects or out_path.rstrip('/') + '/_rejects.jsonl'}")
        return
    out.print(f"cleaned: {summary.out}")
    out.print(f"rejects: {summary.rejects_path}")


def _clean_ray(
    inputs: list[str], out_dir: str, options: dict[str, Any], address: str | None, cpus_per_worker: float
) -> RayCleanSummary:
    from tqdm import tqdm

    from skutag.workflows.clean_ray import clean_catalogue_ray

    with tqdm(desc="cleaning", unit=" rows", disable=None, file=console.file, leave=False) as bar:
        return clean_catalogue_ray(
            inputs, out_dir, on_rows=bar.update, address=address, cpus_per_worker=cpus_per_worker, **options
        )
