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
    rerank: str = typer.Option(
        "hierarchical", "--rerank", help="Reranker of the shortlist: hierarchical, none, or llm (see --llm-url)."
    ),
    llm_url: str | None = typer.Option(
        None,
        "--llm-url",
        help="--rerank llm: an OpenAI-compatible base URL (vLLM, llama.cpp, hosted: http://host:8000/v1); "
        "default: a local llama-cpp-python server on the packaged SmolLM2-135M-Instruct (skutag[llm]).",
    ),
    llm_model: str | None = typer.Option(None, "--llm-model", help="--rerank llm: the model name to ask for."),
    llm_key: str | None = typer.Option(
        None, "--llm-key", help="--rerank llm: API key (default: $SKUTAG_LLM_API_KEY or $OPENAI_API_KEY)."
    ),
    llm_top_n: int = typer.Option(10, "--llm-top-n", help="--rerank llm: candidates the model chooses among (<= 20)."),
    llm_weight: float = typer.Option(
        0.5, "--llm-weight", help="--rerank llm: the LLM's share of the score, the rest is retrieval's (0-1)."
    ),
    llm_timeout: float = typer.Option(120.0, "--llm-timeout", help="--rerank llm: seconds per request."),
    llm_retries: int = typer.Option(
        5, "--llm-retries", help="--rerank llm: retries of a failed request (backoff 0.5 s, doubling) before failing."
    ),
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
    crosswalk: str | None = typer.Option(
        None,
        "--crosswalk",
        help="The shop's own category column (e.g. CategoryText): each shop category is mapped once, by its name and "
        "its products together, into OUT.crosswalk.csv, and its rows follow it. Rows without one map on their own.",
    ),
    crosswalk_weight: float = typer.Option(
        0.7, "--crosswalk-weight", help="How far a row follows its shop category (0: not at all, 1: takes its path)."
    ),
    catalogue_prior: float = typer.Option(
        0.0,
        "--catalogue-prior",
        help="Re-weight the categories by how often this catalogue as a whole seems to use them (EM over all rows; "
        "0: off, 0.5: measured best on MWPD, where it lifts level 1 and costs a little at level 3).",
    ),
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
            llm_options={
                "url": llm_url,
                "model": llm_model,
                "api_key": llm_key,
                "top_n": llm_top_n,
                "weight": llm_weight,
                "timeout": llm_timeout,
                "retries": llm_retries,
            }
            if rerank == "llm"
            else None,
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
            crosswalk=crosswalk,
            crosswalk_weight=crosswalk_weight,
            catalogue_prior=catalogue_prior,
        )
    if threshold is None:
        console.print("no --threshold: every row is left for review (retrieval's confidence is not calibrated)")
    out.print(
        f"{stats.rows_written:,} rows mapped onto {stats.taxonomy} ({stats.categories:,} categories; "
        f"{stats.auto_accepted:,} auto-accepted, {stats.needs_review:,} to review), {stats.rows_rejected:,} "
        f"rejected -> {out_file}"
    )
    if stats.crosswalk_file:
        out.print(
            f"{stats.crosswalk_categories:,} shop categories crosswalked ({stats.crosswalk_auto_accepted:,} "
            f"auto-accepted) -> {stats.crosswalk_file}"
        )
