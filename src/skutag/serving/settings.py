"""All serving settings in one pydantic-settings class (environment variables ``SKUTAG_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from skutag.store.engine import DEFAULT_URL


class ServeSettings(BaseSettings):
    """Settings of ``skutag serve``; each can come from the environment, e.g. ``SKUTAG_API_KEYS=k1,k2``."""

    model_config = SettingsConfigDict(env_prefix="SKUTAG_", extra="ignore", protected_namespaces=())

    model_dir: Path | None = Field(default=None, description="Model directory written by skutag train.")
    db_url: str = Field(default=DEFAULT_URL, description="Tag store: a SQLite path/URL or a postgresql:// URL.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_keys: str = Field(default="", description="Comma-separated API keys; empty = open (a warning is logged).")
    target_precision: float = Field(
        default=0.98,
        gt=0.0,
        le=1.0,
        description="Precision auto-accepted tags must reach: the threshold comes from the model card's calibration "
        "(validation rows, or training rows scored out of fold); a model without one auto-accepts nothing.",
    )
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Fixed confidence threshold instead of the calibrated one; answers then say calibrated: false "
        "and claim no target precision.",
    )
    fallback_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Threshold for a model without calibration for the target (unset: such a model auto-accepts "
        "nothing); answers then say calibrated: false and claim no target precision.",
    )
    top_k: int = Field(default=3, ge=1, le=20)
    max_batch_products: int = Field(default=256, ge=1, description="Most products in one POST /v1/tag.")
    max_body_bytes: int = Field(default=2_000_000, ge=1024, description="Largest request body accepted.")
    batch_max_rows: int = Field(
        default=512, ge=1, description="Most rows the micro-batcher sends to the model at once."
    )
    batch_max_wait_ms: float = Field(
        default=0.0,
        ge=0.0,
        description="How long the batcher holds a batch open for more requests (0: batches form only from requests "
        "queued while the previous batch ran).",
    )
    worker_process: bool = Field(
        default=True, description="Run the model in its own process (no GIL contention with the event loop)."
    )
    worker_threads: int = Field(default=1, ge=1, description="BLAS/OpenMP threads in the worker process.")
    worker_timeout_s: float = Field(
        default=300.0,
        gt=0.0,
        description="A batch the worker process has not answered in this time fails (503) and the worker restarts.",
    )
    loop: Literal["auto", "asyncio", "uvloop"] = Field(
        default="auto", description="Event loop of the server (auto: uvloop where installed)."
    )
    store_predictions: bool = Field(default=True, description="Write every prediction to the store before answering.")

    def keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]
