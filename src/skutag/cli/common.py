"""Helpers shared by CLI commands: option parsing, error reporting, console output."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from skutag.errors import SkutagError
from skutag.extras import missing_extra

console = Console(stderr=True)
out = Console()


TEXT_HELP = "Text column(s), comma-separated, title first (default: auto-detect)."
LABEL_HELP = "Label column(s): one per level, or one path column with --label-sep."
LABEL_SEP_HELP = "Separator of a single path label column, e.g. ' > '."
#: Which labelled rows train (and evaluate) keep: the rule of :func:`skutag.catalogue.labelled.split_labelled`.
LABEL_ROWS_HELP = (
    " A path may stop early (empty last levels: a product classified only to level 2 is a valid row); a row "
    "with no level-1 label, or an empty level before a filled one, is rejected."
)


def text_option(help: str = TEXT_HELP) -> Any:
    """``--text`` as every command declares it."""
    return typer.Option("", "--text", help=help)


def label_option(help: str = LABEL_HELP, required: bool = False) -> Any:
    """``--label``; ``required`` for commands that cannot do without labels (train)."""
    return typer.Option(... if required else "", "--label", help=help)


def label_sep_option() -> Any:
    """``--label-sep``."""
    return typer.Option(None, "--label-sep", help=LABEL_SEP_HELP)


def split_csv(value: str | None) -> tuple[str, ...]:
    """``"a,b, c"`` -> ``("a", "b", "c")``; None or empty -> ``()``."""
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn skutag errors into one clear red line and exit status 2, never a traceback."""
    try:
        yield
    except SkutagError as exc:
        # soft_wrap: one line whatever the console width (a long path must not split the message); the
        # message is escaped so brackets in it (column names, paths) are not read as markup
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except ModuleNotFoundError as exc:
        hint = missing_extra(exc)
        if hint is None:
            raise
        console.print(f"[bold red]error:[/] {escape(hint)}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        raise typer.Exit(code=130) from None


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
