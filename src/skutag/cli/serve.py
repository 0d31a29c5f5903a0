"""`skutag serve`: the tagging API, the tag store and the review page in one server."""

from __future__ import annotations

from pathlib import Path

import typer

from skutag.cli.common import cli_errors


def serve(
    model_dir: Path = typer.Argument(..., help="Model directory written by skutag train."),
    db: str = typer.Option("skutag.db", "--db", help="Tag store: a SQLite file/URL or postgresql://user@host/db."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    target_precision: float | None = typer.Option(
        None, "--target-precision", help="Precision auto-accepted tags must reach (default 0.98)."
    ),
    max_batch: int | None = typer.Option(None, "--max-batch", help="Most products per request (default 256)."),
) -> None:
    """Serve POST /v1/tag, GET /v1/models, /healthz, /readyz, /metrics, /docs and the review page at /review.

    API keys come from SKUTAG_API_KEYS (comma-separated); other settings from SKUTAG_* variables.

    Tag a product (fields: id, name, description, any other text column of the model):

    curl -s localhost:8000/v1/tag -H 'Authorization: Bearer KEY' -H 'Content-Type: application/json' \\
    -d '{"products": [{"id": "p1", "name": "Apple iPhone 5"}]}'

    {"model": "model", "model_version": "linear-f303f22ea77b", "threshold": 0.9986, "target_precision": 0.98,
    "calibrated": true, "calibration": "calibrated for precision 0.98: validation file (184 rows)", "stored": true,
    "results": [{"id": "p1", "path": ["Technology", "Phones"], "levels": [{"level": 1, "name": "Technology",
    "score": 1.0}, ...], "confidence": 0.999998, "alternatives": [{"path": ["Technology", "Phones"], "score":
    0.999998}, ...], "tags": {}, "decision": "auto_accepted", "model_version": "linear-f303f22ea77b"}]}
    """
    from pydantic import ValidationError

    from skutag.errors import ConfigError

    with cli_errors():
        from skutag.serving.app import run_server
        from skutag.serving.settings import ServeSettings

        overrides: dict[str, object] = {"model_dir": model_dir, "db_url": db, "host": host, "port": port}
        if target_precision is not None:
            overrides["target_precision"] = target_precision
        if max_batch is not None:
            overrides["max_batch_products"] = max_batch
        try:
            settings = ServeSettings(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        run_server(settings)
