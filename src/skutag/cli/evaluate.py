"""`skutag evaluate`: score a saved model on labelled data; writes metrics.json and report.html."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from skutag.cli.common import cli_errors, console, label_option, label_sep_option, out, split_csv

if TYPE_CHECKING:
    from skutag.evaluation.metrics import EvaluationResult


def evaluate(
    model_dir: Path = typer.Argument(..., help="Model directory written by skutag train."),
    data: list[Path] = typer.Argument(..., help="Labelled catalogue file(s)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory for metrics.json, report.html, per-class CSVs."),
    label: str = label_option("Label column(s) if they differ from training's."),
    label_sep: str | None = label_sep_option(),
    global_explanations: bool = typer.Option(
        True,
        "--global-explanations/--no-global-explanations",
        help="Add what each class learnt (its strongest words and n-grams) and the classes leaning on brand or "
        "shop words to report.html and metrics.json.",
    ),
    global_rows: int | None = typer.Option(
        None,
        "--global-rows",
        min=0,
        help="Rows the global explanations read (default 10,000 for a linear model, which is exact and fast; 300 "
        "for the others, explained one by one); 0 = every row.",
    ),
) -> None:
    """Evaluate a model: per-level accuracy/F1, hierarchical F1, calibration, precision-coverage, what each class
    learnt and which classes lean on brand or shop words; per-attribute precision/recall/F1 (exact and normalised
    match) and per-tag F1 for the parts it holds."""
    from rich.status import Status

    from skutag.workflows.evaluate import evaluate_files

    with cli_errors(), Status("evaluating", console=console):
        res = evaluate_files(
            model_dir,
            data,
            out_dir,
            label=split_csv(label),
            label_sep=label_sep,
            global_explanations=global_explanations,
            global_rows=global_rows,
        )
    if res.result is not None:
        _print_categories(res.result)
    if res.global_views:
        _print_global(res.global_views)
    if res.attributes:
        _print_attributes(res.attributes)
    out.print(f"metrics: {res.metrics_path}\nreport: {res.report_path}")
    if res.rows_rejected:
        out.print(f"{res.rows_rejected:,} row(s) rejected: {Path(out_dir) / 'rejects.jsonl'}")


def _print_categories(result: EvaluationResult) -> None:
    for name, m in result.levels.items():
        out.print(
            f"{name}: accuracy {m['accuracy']:.4f}  weighted F1 {m['f1_weighted']:.4f}  macro F1 {m['f1_macro']:.4f}"
        )
    mean = result.mean
    out.print(
        f"mean: accuracy {mean['accuracy']:.4f}  weighted F1 {mean['f1_weighted']:.4f}  macro F1 {mean['f1_macro']:.4f}"
    )
    for t in result.path.get("thresholds", []):
        if t["threshold"] is not None:
            out.print(f"precision {t['target']:.0%}: threshold {t['threshold']:.3f} keeps {t['coverage']:.1%} of rows")


def _print_global(views: dict[str, Any]) -> None:
    flagged = views["flagged"]
    out.print(
        f"global explanations: {len(flagged)} of {len(views['classes'])} classes lean on brand or shop words "
        f"({views['rows_explained']:,} rows, {views['seconds']:.1f} s)"
    )
    for f in flagged[:5]:
        out.print(f"  {f['class']}: {f['share']:.0%} ({', '.join(f['role_words'][:4])})")


def _print_attributes(scores: dict[str, Any]) -> None:
    for match in ("exact", "normalised"):
        if match in scores:
            m = scores[match]
            out.print(
                f"attributes ({match}): precision {m['precision']:.4f}  recall {m['recall']:.4f}  F1 {m['f1']:.4f}"
            )
    if "entities" in scores:
        e = scores["entities"]
        out.print(
            f"entities (span and type): precision {e['precision']:.4f}  recall {e['recall']:.4f}  F1 {e['f1']:.4f}"
        )
    if "exact" in scores:
        for row in scores["exact"]["per_attribute"][:15]:
            out.print(f"  {row['attribute']}: F1 {row['f1']:.4f} (support {row['support']})")
    for row in scores.get("tags", []):
        out.print(f"tag {row['tag']}: precision {row['precision']:.4f}  recall {row['recall']:.4f}  F1 {row['f1']:.4f}")
