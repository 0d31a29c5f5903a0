"""`skutag cascade`: two fitted models -> one that asks the slow model only about what the fast one is unsure of."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.status import Status

from skutag.cli.common import cli_errors, console, out, split_csv


def cascade(
    fast_dir: Path = typer.Argument(..., help="The fast model's directory (e.g. a linear model): it answers first."),
    slow_dir: Path = typer.Argument(
        ..., help="The slow, more accurate model's directory (e.g. an ensemble, or its compressed copy)."
    ),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Cascade model directory to write."),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="Rows the fast model gives a top-path probability under this go to the slow one (default: chosen on "
        "--tune, else 0.6).",
    ),
    tune: list[Path] | None = typer.Option(
        None,
        "--tune",
        help="Labelled file(s): choose the threshold there (the fewest rows deferred within --tolerance of the slow "
        "model's weighted F1) and calibrate the cascade's confidences.",
    ),
    tolerance: float = typer.Option(
        0.005,
        "--tolerance",
        help="Weighted F1 the cascade may lose against the slow model on --tune (0.005: half a point).",
    ),
    label: str | None = typer.Option(
        None, "--label", help="Label column(s) of --tune, comma-separated (default: the fast model card's)."
    ),
    label_sep: str | None = typer.Option(None, "--label-sep", help="Separator of a path in one label column."),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Where rejected --tune rows go (default: OUT.rejects.jsonl)."
    ),
) -> None:
    """Join a fast and a slow model: the fast one answers every product, the slow one those the fast one is unsure
    of. The result predicts, serves and evaluates like any model directory."""
    from skutag.workflows.cascade import build_cascade

    with cli_errors(), Status("building the cascade", console=console) as status:
        res = build_cascade(
            fast_dir,
            slow_dir,
            out_dir,
            threshold=threshold,
            tune=tune or None,
            tolerance=tolerance,
            label=split_csv(label),
            label_sep=label_sep,
            rejects=rejects,
            progress=lambda msg: status.update(msg),
        )
    line = f"{res.model_dir}: rows under {res.threshold:.3f} from {fast_dir} go to {slow_dir} ({res.threshold_source})"
    t = res.tuning
    if t is not None:
        c = t["cascade"]["mean"]
        line += (
            f"; on {t['rows']:,} tuning rows {t['deferred']:.1%} deferred, weighted / macro F1 "
            f"{c['f1_weighted']:.3f} / {c['f1_macro']:.3f} (fast {t['fast']['f1_weighted']:.3f} / "
            f"{t['fast']['f1_macro']:.3f}, slow {t['slow']['f1_weighted']:.3f} / {t['slow']['f1_macro']:.3f})"
        )
        if t["rows_rejected"]:
            line += f", {t['rows_rejected']:,} rows rejected"
    out.print(line, soft_wrap=True)
