"""The `skutag` console command."""

from __future__ import annotations

import typer

from skutag import __version__
from skutag.cli.common import out, setup_logging

app = typer.Typer(
    name="skutag",
    help="Automatic product tagging: inspect, clean, train, evaluate, predict, map.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    setup_logging(verbose)


@app.command()
def version() -> None:
    """Print the skutag version."""
    out.print(__version__)


# --- command registrations (one line per command module) ---
from skutag.cli import cascade as cascade_cmd  # noqa: E402
from skutag.cli import clean as clean_cmd  # noqa: E402
from skutag.cli import compress as compress_cmd  # noqa: E402
from skutag.cli import distill as distill_cmd  # noqa: E402
from skutag.cli import evaluate as evaluate_cmd  # noqa: E402
from skutag.cli import explain as explain_cmd  # noqa: E402
from skutag.cli import export_reviews as export_reviews_cmd  # noqa: E402
from skutag.cli import inspect as inspect_cmd  # noqa: E402
from skutag.cli import map as map_cmd  # noqa: E402
from skutag.cli import predict as predict_cmd  # noqa: E402
from skutag.cli import serve as serve_cmd  # noqa: E402
from skutag.cli import split as split_cmd  # noqa: E402
from skutag.cli import train as train_cmd  # noqa: E402

app.command("inspect")(inspect_cmd.inspect)
app.command("split")(split_cmd.split)
app.command("clean")(clean_cmd.clean)
app.command("train")(train_cmd.train)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("predict")(predict_cmd.predict)
app.command("map")(map_cmd.map_catalogue)
app.command("explain")(explain_cmd.explain)
app.command("compress")(compress_cmd.compress)
app.command("distill")(distill_cmd.distill)
app.command("cascade")(cascade_cmd.cascade)
app.command("serve")(serve_cmd.serve)
app.command("export-reviews")(export_reviews_cmd.export_reviews)
# --- end of command registrations ---
