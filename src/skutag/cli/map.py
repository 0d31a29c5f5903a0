"""`skutag map`: map an unlabelled catalogue onto a standard taxonomy (Shopify, Google, GS1 or a file of paths)."""

from __future__ import annotations

from pathlib import Path

import typer

from skutag.cli.common import cli_errors, console, out, split_csv, text_option


def map_catalogue(
    data: list[Path] = typer.Argument(..., help="Catalogue file(s) to map; several are concatenated."),
    taxonomy: str = typer.Option(
        ...,
        "--taxonomy",
        "-t",
        help="shopify, google, gs1, or a text file of category paths (one per line, levels joined by ' > '; "
        "Google's 'id - A > B' lines also read).",
    ),
    out_file: Path = typer.Option(..., "--out", "-o", help="Output file: .csv, .jsonl or .parquet (by suffix)."),
    lang: str = typer.Option(
        "en",
        "--lang",
        help="Language of the Shopify taxonomy and of the output paths (da de en es fi fr it ja ko nl pl pt-BR "
        "pt-PT zh-CN); other than en: path_en gives the English path too, and the multilingual encoder is used.",
    ),
    text: str = text_option(),
    fields: str = typer.Option("title", "--fields", help="Map by the 'title' (fast) or 'all' text columns."),
    method: str = typer.Option("hybrid", "--method", help="Retrieval: hybrid, dense or lexical."),
    rerank: str = typer.Option("hierarchical", "--rerank", help="Reranker of the shortlist: hierarchical or none."),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="Auto-accept the rows whose path_score reaches this. Without labels nothing calibrates it, so by "
        "default no row is auto-accepted: set one after checking a sample of the output.",
    ),
    k: int = typer.Option(3, "--top-k", "-k", help="Alternatives to list per row (including the best)."),
    keep: str = typer.Option("", "--keep", help="More input columns to copy into the output, comma-separated."),
    id_column: str | None = typer.Option(None, "--id-column", help="Product id column (default: detected)."),
    encoder: str = typer.Option(
        "auto",
        "--encoder",
        help="Sentence encoder: multilingual (packaged, any language onto any), default (all-MiniLM-L6-v2, "
        "English), a local model directory, or auto: multilingual for --lang other than en or non-Latin text.",
    ),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where rejected rows go (default: OUT.rejects.jsonl)."),
    chunksize: int = typer.Option(5000, "--chunksize", help="Rows per chunk (memory stays bounded)."),
) -> None:
    """Give every product a valid path of a standard taxonomy, with a confidence and a decision; no labels."""
    from tqdm import tqdm

    from skutag.workflows.map import map_files

    with cli_errors(), tqdm(unit=" rows", disable=None, file=console.file) as bar:
        stats = map_files(
            data,
            taxonomy,
            out_file,
            lang=lang,
            method=method,
            rerank=rerank,
            threshold=threshold,
            k=k,
            text=split_csv(text),
            fields=fields,
            keep_columns=split_csv(keep),
            id_column=id_column,
            encoder=encoder,
            chunksize=chunksize,
            rejects=rejects,
            on_rows=bar.update,
        )
    if threshold is None:
        console.print("no --threshold: every row is left for review (retrieval's confidence is not calibrated)")
    out.print(
        f"{stats.rows_written:,} rows mapped onto {stats.taxonomy} ({stats.categories:,} categories; "
        f"{stats.auto_accepted:,} auto-accepted, {stats.needs_review:,} to review), {stats.rows_rejected:,} "
        f"rejected -> {out_file}"
    )
