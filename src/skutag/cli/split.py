"""`skutag split`: train/validation/test files stratified on labels, duplicates kept together."""

from __future__ import annotations

from pathlib import Path

import typer

from skutag.cli.common import cli_errors, label_option, label_sep_option, out, split_csv, text_option
from skutag.errors import ConfigError


def split(
    inputs: list[Path] = typer.Argument(..., help="Catalogue file(s) to split."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory for train/validation/test files."),
    text: str = text_option(),
    label: str = label_option(),
    label_sep: str | None = label_sep_option(),
    fractions: str = typer.Option("0.8,0.1,0.1", "--fractions", help="Train, validation, test shares."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    near: bool = typer.Option(
        True, "--near/--exact-only", help="Keep near-duplicate titles together (default), or exact duplicates only."
    ),
) -> None:
    """Split a catalogue so that no (near-)duplicate title lands in two splits and class shares stay close."""
    from skutag.workflows.split import split_catalogue

    with cli_errors():
        try:
            fr = tuple(float(x) for x in split_csv(fractions))
        except ValueError:
            raise ConfigError(f"--fractions must be three numbers, got {fractions!r}") from None
        summary = split_catalogue(
            inputs,
            out_dir,
            text=split_csv(text),
            label=split_csv(label),
            label_sep=label_sep,
            fractions=fr,
            seed=seed,
            near=near,
        )
    for name, n in summary.rows.items():
        out.print(f"{name}: {n:,} rows -> {summary.files[name]}")
    out.print(f"{summary.duplicate_groups:,} duplicate groups kept whole; rejected rows: {summary.rows_rejected:,}")
    out.print(f"Summary: {summary.files['summary']}")
