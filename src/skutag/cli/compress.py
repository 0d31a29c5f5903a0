"""`skutag compress`: a transformer model -> an edge model directory (ONNX, int8) that predicts without torch."""

from __future__ import annotations

from pathlib import Path

import typer

from skutag.cli.common import cli_errors, out


def compress(
    model_dir: Path = typer.Argument(..., help="Transformer model directory written by skutag train."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Edge model directory to write."),
    int8: str = typer.Option(
        "dynamic", "--int8", help="dynamic (default), static (needs --calibration) or none (fp32 graph)."
    ),
    calibration: list[Path] | None = typer.Option(
        None, "--calibration", help="Catalogue file(s) whose rows measure the activation ranges for --int8 static."
    ),
    calibration_rows: int = typer.Option(512, "--calibration-rows", help="Rows sampled from --calibration."),
) -> None:
    """Compress a transformer for the edge: it then predicts with numpy, onnxruntime and tokenizers alone."""
    from skutag.workflows.compress import compress_model

    with cli_errors():
        stats = compress_model(
            model_dir, out_dir, int8=int8, calibration=calibration or None, calibration_rows=calibration_rows
        )
    out.print(
        f"{stats.source} -> {stats.out}: {stats.bytes_before / 1e6:.1f} MB -> {stats.bytes_after / 1e6:.1f} MB "
        f"({stats.ratio:.0%}), int8 {stats.int8}"
        + (f" ({stats.calibration_rows} calibration rows)" if stats.calibration_rows else "")
    )
