"""`skutag train DATA --labels-from MAPPING`: train on the paths `skutag map` gave DATA's rows (label noise
filtered), for a catalogue with no labels of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape

from skutag.cli.common import console, out, split_csv

LABELS_FROM_HELP = (
    "A `skutag map` output for DATA: train on its paths instead of a label column (joined by product id, else by "
    "file and record number, else by row order). Rows cleanlab finds mislabelled are dropped (--noise-filter), "
    "and those the mapper was unsure of with --min-map-score. With --valid, --label names that file's true labels."
)


def train_labels_from(
    data: list[Path],
    mapping: Path,
    out_dir: Path,
    *,
    text: str,
    label: str,
    label_sep: str | None,
    levels: int | None,
    model: str,
    params: dict[str, Any],
    valid: list[Path] | None,
    id_column: str | None,
    min_map_score: float | None,
    noise_filter: str,
    rejects: Path | None,
) -> None:
    """Run :func:`skutag.workflows.train_labels_from.train_from_mapping` and print what became of the rows."""
    from rich.status import Status

    from skutag.workflows.train_labels_from import train_from_mapping

    with Status("training", console=console) as status:
        res = train_from_mapping(
            data,
            mapping,
            out=out_dir,
            text=split_csv(text),
            id_column=id_column,
            levels=levels,
            model=model,
            params=params,
            min_map_score=min_map_score,
            noise_filter=noise_filter,
            valid=valid or None,
            valid_label=split_csv(label),
            valid_label_sep=label_sep,
            rejects=rejects or out_dir.with_name(out_dir.name + ".rejects.jsonl"),
            progress=lambda msg: status.update(msg),
        )
    result = res.train
    dropped = ", ".join(f"{n:,} {escape(reason)}" for reason, n in res.dropped.items()) or "none"
    out.print(
        f"labels from {mapping} (joined by {escape(res.joined_by)}): {res.rows_read:,} rows read, dropped: {dropped}"
    )
    out.print(
        f"trained {model} on {result.rows_used:,} rows ({result.rows_rejected:,} rejected or dropped) "
        f"in {result.train_seconds:.1f} s"
    )
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    for who, evaluation in (("model", result.validation), ("mapper", res.mapper_validation)):
        if evaluation is None:
            continue
        for name, m in {**evaluation.levels, "mean": evaluation.mean}.items():
            figures = f"accuracy {m['accuracy']:.4f}  weighted F1 {m['f1_weighted']:.4f}  macro F1 {m['f1_macro']:.4f}"
            out.print(f"  {who} {name}: {figures}")
    out.print(f"model: {result.model_dir}")
