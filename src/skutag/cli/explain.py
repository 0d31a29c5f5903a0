"""`skutag explain`: why each row got its category, as highlighted words (JSON Lines + an HTML page)."""

from __future__ import annotations

from pathlib import Path

import typer

from skutag.cli.common import cli_errors, console, out


def explain(
    model_dir: Path = typer.Argument(..., help="Model directory written by skutag train."),
    data: list[Path] = typer.Argument(..., help="Catalogue file(s) whose rows to explain."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for explanations.jsonl and explanations.html."),
    path: str | None = typer.Option(
        None, "--path", help="Explain this path (levels joined by ' > ') instead of each row's predicted one."
    ),
    method: str = typer.Option(
        "auto", "--method", help="auto, linear, ig, gradient, occlusion, erasure or blend (what the model kind offers)."
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Explain at most this many rows."),
) -> None:
    """Explain predictions: a signed weight per word of each row for its path (or --path); with attribute or tag
    parts in the model directory, each tag's span and the context words that decided it too."""
    from tqdm import tqdm

    from skutag.taxonomy import PATH_SEP
    from skutag.workflows.explain import explain_files

    wanted = [p.strip() for p in path.split(PATH_SEP.strip())] if path else None
    with cli_errors(), tqdm(unit=" rows", disable=None, file=console.file) as bar:
        stats = explain_files(model_dir, data, out_dir, path=wanted, method=method, limit=limit, on_rows=bar.update)
    tags = ""
    if stats.tags_explained:
        tags = f", {stats.tags_explained:,} tags ({1000 * stats.seconds_per_tag:.1f} ms/tag)"
    out.print(
        f"{stats.rows_explained:,} rows explained ({stats.method}, {1000 * stats.seconds_per_row:.1f} ms/row){tags}, "
        f"{stats.rows_rejected:,} rejected -> {stats.jsonl}, {stats.html}"
    )
