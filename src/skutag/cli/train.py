"""`skutag train`: fit a categoriser on labelled catalogue file(s) and save it with its model card."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
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
    text_option,
)
from skutag.cli.train_labels_from import LABELS_FROM_HELP, train_labels_from
from skutag.models.registry import MODELS

#: the parts a model directory can hold beside its category model
PART_MODELS = ("extractor", "tags")
#: ``--model``'s help lists the registered kinds (the registry imports no model code, numpy or torch).
MODEL_HELP = (
    f"Model kind: {', '.join(MODELS)} (categories; all but linear need the 'neural' extra), or extractor (attribute "
    "values: --attributes, or WDC-PAVE / ExtractGPT / CoNLL files) or tags (free tag sets: --tags COL), which are "
    "added to the model directory beside its category model."
)


def train(
    data: list[Path] = typer.Argument(..., help="Labelled catalogue file(s); several are concatenated."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Model directory to write (replaced atomically)."),
    text: str = text_option(),
    label: str = label_option(LABEL_HELP + LABEL_ROWS_HELP + " Needed by the category kinds."),
    label_sep: str | None = label_sep_option(),
    label_levels: int | None = typer.Option(
        None,
        "--levels",
        min=1,
        help="Keep the first N levels of the labels (a path whose last part is a product name, not a category).",
    ),
    model: str = typer.Option("linear", "--model", help=MODEL_HELP),
    valid: list[Path] = typer.Option(None, "--valid", help="Validation file(s) to evaluate on after training."),
    tune: list[Path] = typer.Option(
        None,
        "--tune",
        help="--model ensemble: labelled file(s) to tune the blend weights on (instead of a held-out tenth of the "
        "training rows), then refit the linear member on training + these rows (the card's 'tuning' entry). They "
        "become training rows: evaluate on other rows.",
    ),
    params: str = typer.Option("", "--params", help="Model hyperparameters as JSON, e.g. '{\"C\": 0.5}'."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where rejected rows go (default: OUT.rejects.jsonl)."),
    attributes: str = typer.Option(
        "",
        "--attributes",
        help="The columns holding one attribute each (e.g. Brand,Colour; their values are found in the text): with "
        "--model extractor, or beside a category model to train both into --out.",
    ),
    tags: str = typer.Option(
        "",
        "--tags",
        help="The column holding each row's free tags (a|b or a JSON list): with --model tags, or beside a category "
        "model.",
    ),
    group: str | None = typer.Option(
        None,
        "--group",
        help="--model extractor: the column whose value decides which attributes a row has (default: category).",
    ),
    use_ray: bool = typer.Option(
        False, "--ray", help="--model transformer: fine-tune data-parallel on a Ray cluster (Ray Train, DDP)."
    ),
    address: str | None = typer.Option(
        None, "--address", help="With --ray: the cluster, auto, HOST:PORT or ray://HOST:PORT (default: a local one)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="With --ray: training workers (default: one per GPU, else as the CPUs hold)."
    ),
    cpus_per_worker: float = typer.Option(1.0, "--cpus-per-worker", help="With --ray: CPUs (threads) per worker."),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="With --ray: where checkpoints go, a path every node reaches or s3://... (default: OUT.ray-train, "
        "removed after the run).",
    ),
    labels_from: Path | None = typer.Option(None, "--labels-from", help=LABELS_FROM_HELP),
    min_map_score: float | None = typer.Option(
        None, "--min-map-score", help="--labels-from: drop the rows whose path_score is below this."
    ),
    noise_filter: str = typer.Option(
        "cleanlab", "--noise-filter", help="--labels-from: cleanlab (drop likely mislabelled rows) or none."
    ),
    id_column: str | None = typer.Option(
        None, "--id-column", help="--labels-from: the product id column to join on (default: detected)."
    ),
) -> None:
    """Train a model; prints validation figures when --valid is given."""
    from rich.status import Status

    from skutag.errors import ConfigError
    from skutag.workflows.train import TrainResult, train_model

    fit: Callable[..., TrainResult] = train_model
    if use_ray:
        from skutag.workflows.train_ray import train_model_ray

        fit = partial(
            train_model_ray, address=address, workers=workers, cpus_per_worker=cpus_per_worker, storage=storage
        )
    elif address is not None or workers is not None or storage is not None:
        console.print("[bold red]error:[/] --address, --workers and --storage go with --ray")
        raise typer.Exit(code=2)

    with cli_errors():
        try:
            hyper = json.loads(params) if params else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--params is not valid JSON: {exc}") from None
        if labels_from is not None:
            if model in PART_MODELS or tune or use_ray:
                raise ConfigError(
                    "--labels-from trains a category model; not with --tune, --ray or --model extractor/tags"
                )
            train_labels_from(
                data,
                labels_from,
                out_dir,
                text=text,
                label=label,
                label_sep=label_sep,
                levels=label_levels,
                model=model,
                params=hyper,
                valid=valid,
                id_column=id_column,
                min_map_score=min_map_score,
                noise_filter=noise_filter,
                rejects=rejects,
            )
            return
        if model in PART_MODELS:
            if tune or use_ray:
                raise ConfigError(f"{'--ray' if use_ray else '--tune'} is not for --model {model}")
            _train_part(model, data, out_dir, text, attributes, tags, group, hyper, valid, rejects)
            return
        if not label:
            raise ConfigError(f"--label is required for --model {model} (the category label column(s))")
        part_params = {k: hyper.pop(k) for k in ("attributes", "tags") if k in hyper}
        with Status("training", console=console) as status:
            result = fit(
                data,
                text=split_csv(text),
                label=split_csv(label),
                label_sep=label_sep,
                levels=label_levels,
                model=model,
                params=hyper,
                out=out_dir,
                valid=valid or None,
                tune=tune or None,
                rejects=rejects or out_dir.with_name(out_dir.name + ".rejects.jsonl"),
                progress=lambda msg: status.update(msg),
            )
    rows = f"{result.rows_used:,} rows ({result.rows_rejected:,} rejected)"
    out.print(f"trained {model} on {rows} in {result.train_seconds:.1f} s")
    tuning = result.meta.get("tuning")
    if tuning:
        weights = ", ".join(f"{w:g}" for w in tuning.get("weights", []))
        refit = f"; refitted {', '.join(tuning['refit'])} on training + tuning rows" if tuning.get("refit") else ""
        out.print(f"tuned on {tuning['rows']:,} rows: {tuning.get('blend')} blend, weights {weights}{refit}")
    ran = result.meta.get("distributed")
    if ran:
        resumed = ", ".join(str(s) for s in ran["resumed_at_steps"]) or "none"
        out.print(
            f"Ray Train: {ran['workers']} workers ({ran['backend']}), {ran['steps']} steps, resumed at step {resumed}"
        )
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if result.validation is not None:
        levels = {**result.validation.levels, "mean": result.validation.mean}
        for name, m in levels.items():
            figures = f"accuracy {m['accuracy']:.4f}  weighted F1 {m['f1_weighted']:.4f}  macro F1 {m['f1_macro']:.4f}"
            out.print(f"  {name}: {figures}")
    out.print(f"model: {result.model_dir}")
    # trained together: --attributes / --tags beside a category model add those parts to the same directory, with
    # the hyperparameters under --params' "attributes" / "tags" keys
    for part, column in (("extractor", attributes), ("tags", tags)):
        if column:
            name = "attributes" if part == "extractor" else "tags"
            part_rejects = out_dir.with_name(f"{out_dir.name}.{name}.rejects.jsonl")
            with cli_errors():
                _train_part(
                    part,
                    data,
                    out_dir,
                    text,
                    attributes if part == "extractor" else "",
                    tags if part == "tags" else "",
                    group,
                    dict(part_params.get(name) or {}),
                    valid or None if part == "extractor" else None,
                    part_rejects,
                )


def _train_part(
    model: str,
    data: list[Path],
    out_dir: Path,
    text: str,
    attributes: str,
    tags: str,
    group: str | None,
    hyper: dict[str, object],
    valid: list[Path] | None,
    rejects: Path | None,
) -> None:
    """``--model extractor|tags``: train the part and add it to ``out_dir``."""
    from rich.status import Status

    from skutag.errors import ConfigError
    from skutag.workflows.train_parts import train_attributes, train_tag_sets

    reject_path = rejects or out_dir.with_name(out_dir.name + ".rejects.jsonl")
    with Status("training", console=console) as status:
        progress = lambda msg: status.update(msg)  # noqa: E731
        if model == "extractor":
            result = train_attributes(
                data,
                out=out_dir,
                attributes=split_csv(attributes),
                text=split_csv(text),
                group=group,
                params=hyper,
                valid=valid or None,
                rejects=reject_path,
                progress=progress,
            )
        else:
            if not tags:
                raise ConfigError("--model tags needs --tags COL (the column holding each row's tags)")
            if valid:
                raise ConfigError("--model tags tunes its thresholds on held-out training rows; --valid is not used")
            result = train_tag_sets(
                data,
                out=out_dir,
                column=tags,
                text=split_csv(text),
                params=hyper,
                rejects=reject_path,
                progress=progress,
            )
    rows = f"{result.rows_used:,} rows ({result.rows_rejected:,} rejected)"
    out.print(f"trained {result.tagger} on {rows} in {result.train_seconds:.1f} s")
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if result.validation is not None:
        for name in ("exact", "normalised"):
            m = result.validation[name]
            out.print(f"  {name} match: precision {m['precision']:.4f}  recall {m['recall']:.4f}  F1 {m['f1']:.4f}")
    out.print(f"model: {result.model_dir} (part {result.part})")
