"""`skutag distill`: a saved teacher model teaches a new linear or transformer student its path distribution."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from skutag.cli.common import (
    LABEL_HELP,
    LABEL_ROWS_HELP,
    cli_errors,
    console,
    label_option,
    label_sep_option,
    out,
    split_csv,
)

#: the student kinds (skutag.models.distill.STUDENTS; a test holds them in step: the CLI's help imports no numpy)
STUDENT_HELP = "Student kind: linear (teacher paths as confidence-weighted rows) or transformer (KL + hard-label loss)."


def distill(
    teacher: Path = typer.Argument(..., help="Teacher model directory (any kind written by skutag train or distill)."),
    data: list[Path] = typer.Argument(..., help="Labelled catalogue file(s); several are concatenated."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Student model directory to write (replaced atomically)."),
    student: str = typer.Option("linear", "--student", help=STUDENT_HELP),
    text: str = typer.Option(
        "", "--text", help="The student's text column(s), comma-separated, title first (default: the teacher's)."
    ),
    label: str = label_option(LABEL_HELP + " Default: the teacher card's." + LABEL_ROWS_HELP),
    label_sep: str | None = label_sep_option(),
    label_levels: int | None = typer.Option(None, "--levels", min=1, help="Keep the first N levels of the labels."),
    unlabelled: list[Path] = typer.Option(
        None, "--unlabelled", help="Catalogue file(s) of product text without labels, scored by the teacher."
    ),
    unlabelled_text: str = typer.Option(
        "",
        "--unlabelled-text",
        help="Columns of the --unlabelled files standing for the student's text columns, in order (e.g. input_title).",
    ),
    params: str = typer.Option("", "--params", help="Student hyperparameters as JSON, e.g. '{\"C\": 0.5}'."),
    temperature: float | None = typer.Option(
        None, "--temperature", help="Softens teacher and student distributions (default: 1 linear, 2 transformer)."
    ),
    alpha: float = typer.Option(0.5, "--alpha", help="Teacher's share of a labelled row's loss (the label: 1 - A)."),
    min_confidence: float = typer.Option(
        0.5, "--min-confidence", help="Rows without a label count where the teacher's best path has this probability."
    ),
    augment: int = typer.Option(0, "--augment", min=0, help="Augmented copies per row (token dropout, field swap)."),
    soft_paths: int = typer.Option(
        1, "--soft-paths", min=1, help="Linear student: teacher paths per row (1: the best, weighted by confidence)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the augmentation."),
    valid: list[Path] = typer.Option(None, "--valid", help="Validation file(s) to evaluate the student on."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where rejected rows go (default: OUT.rejects.jsonl)."),
) -> None:
    """Distil a teacher model into a faster student on labelled and unlabelled product rows."""
    from rich.status import Status

    from skutag.errors import ConfigError
    from skutag.models.distill import DistillSettings
    from skutag.workflows.distill import distill_model

    with cli_errors():
        try:
            hyper = json.loads(params) if params else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--params is not valid JSON: {exc}") from None
        settings = DistillSettings(
            temperature=temperature,
            alpha=alpha,
            min_confidence=min_confidence,
            augment=augment,
            soft_paths=soft_paths,
            seed=seed,
        )
        with Status("distilling", console=console) as status:
            result = distill_model(
                teacher,
                data,
                student=student,
                text=split_csv(text),
                label=split_csv(label),
                label_sep=label_sep,
                levels=label_levels,
                unlabelled=unlabelled or None,
                unlabelled_text=split_csv(unlabelled_text),
                params=hyper,
                settings=settings,
                out=out_dir,
                valid=valid or None,
                rejects=rejects or out_dir.with_name(out_dir.name + ".rejects.jsonl"),
                progress=lambda msg: status.update(msg),
            )
    labelled = f"{result.rows_used:,} labelled rows ({result.rows_rejected:,} rejected)"
    extra = (
        f"{result.unlabelled_used:,} unlabelled ({result.unlabelled_rejected:,} rejected, "
        f"{result.unlabelled_left_out:,} under the confidence threshold), "
        f"{result.augmented_used:,} augmented ({result.augmented_left_out:,} under it)"
    )
    out.print(f"distilled {student} on {labelled}, {extra} in {result.train_seconds:.1f} s", soft_wrap=True)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if result.validation is not None:
        levels = {**result.validation.levels, "mean": result.validation.mean}
        for name, m in levels.items():
            figures = f"accuracy {m['accuracy']:.4f}  weighted F1 {m['f1_weighted']:.4f}  macro F1 {m['f1_macro']:.4f}"
            out.print(f"  {name}: {figures}")
    out.print(f"model: {result.model_dir}")
