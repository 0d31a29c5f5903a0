"""`skutag compress`: a transformer model -> an edge model directory (ONNX, int8, optionally pruned) that predicts
without torch."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.status import Status

from skutag.cli.common import cli_errors, console, out


def compress(
    model_dir: Path = typer.Argument(..., help="Transformer (or ensemble) model directory written by skutag train."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Edge model directory to write."),
    int8: str = typer.Option(
        "dynamic", "--int8", help="dynamic (default), static (needs --calibration) or none (fp32 graph)."
    ),
    calibration: list[Path] | None = typer.Option(
        None, "--calibration", help="Catalogue file(s) whose rows measure the activation ranges for --int8 static."
    ),
    calibration_rows: int = typer.Option(512, "--calibration-rows", help="Rows sampled from --calibration."),
    prune_layers: int | None = typer.Option(
        None, "--prune-layers", min=1, help="Keep this many encoder layers (MiniLM has 6); see --layer-choice."
    ),
    prune_heads: float = typer.Option(
        0.0, "--prune-heads", help="Fraction of attention heads to remove (0-1), least important first."
    ),
    recover: list[Path] | None = typer.Option(
        None,
        "--recover",
        help="Labelled catalogue file(s) for a short recovery fine-tune after pruning (distilling the unpruned model); "
        "they also rank the layers and heads. Without them the pruned model is not fine-tuned.",
    ),
    recover_epochs: int = typer.Option(1, "--recover-epochs", min=0, help="Recovery epochs (0: rank only)."),
    recover_lr: float | None = typer.Option(
        None, "--recover-lr", help="Recovery learning rate (default: 3x the model's encoder_lr)."
    ),
    layer_choice: str = typer.Option(
        "greedy",
        "--layer-choice",
        help="greedy (drop the layer whose removal hurts held-out recovery rows least, repeatedly) or even "
        "(evenly spaced).",
    ),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Where rejected --recover rows go (default: OUT.rejects.jsonl)."
    ),
) -> None:
    """Compress a transformer for the edge: it then predicts with numpy, onnxruntime and tokenizers alone. An
    ensemble is compressed member by member: its transformer becomes int8 (--int8 only, no pruning)."""
    from skutag.workflows.compress import compress_model

    with cli_errors(), Status("compressing", console=console) as status:
        stats = compress_model(
            model_dir,
            out_dir,
            int8=int8,
            calibration=calibration or None,
            calibration_rows=calibration_rows,
            prune_layers=prune_layers,
            prune_heads=prune_heads,
            recover=recover or None,
            recover_epochs=recover_epochs,
            recover_lr=recover_lr,
            layer_choice=layer_choice,
            rejects=rejects,
            progress=lambda msg: status.update(msg),
        )
    pruning = stats.pruning
    if pruning is not None:
        line = (
            f"pruned: {pruning['layers_before']} -> {len(pruning['layers_kept'])} layers "
            f"(kept {', '.join(str(i + 1) for i in pruning['layers_kept'])}), "
            f"{pruning['heads_before']} -> {pruning['heads_after']} attention heads"
        )
        if pruning["recover_rows"]:
            line += f"; recovered on {pruning['recover_rows']:,} rows ({stats.recover_rows_rejected:,} rejected)"
        scores = ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in pruning["held_out"].items() if "accuracy" in v)
        if scores:
            line += f"; held-out accuracy: {scores}"
        out.print(line, soft_wrap=True)
        for warning in stats.warnings:
            out.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    out.print(
        f"{stats.source} -> {stats.out}: {stats.bytes_before / 1e6:.1f} MB -> {stats.bytes_after / 1e6:.1f} MB "
        f"({stats.ratio:.0%}), int8 {stats.int8}"
        + (f" ({stats.calibration_rows} calibration rows)" if stats.calibration_rows else ""),
        soft_wrap=True,
    )
