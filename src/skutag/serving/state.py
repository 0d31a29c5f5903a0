"""What the app holds while it runs: the model, the tagger, the store, the batcher (built in ``lifespan``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skutag.log import get_logger
from skutag.serving.batcher import MicroBatcher
from skutag.serving.metrics import Metrics
from skutag.serving.settings import ServeSettings
from skutag.serving.tagger import ServedModel, Tagger, load_served_model
from skutag.store import PredictionRecord, TagStore

log = get_logger(__name__)


@dataclass
class ServingState:
    settings: ServeSettings
    served: ServedModel
    tagger: Tagger
    store: TagStore | None
    batcher: MicroBatcher[dict[str, str], PredictionRecord]
    metrics: Metrics

    def process(self, products: list[dict[str, str]], options: Any) -> list[PredictionRecord]:
        """Model then store, on the batch thread: results are committed before any request is answered."""
        records = self.tagger.tag(products, top_k=options)
        if self.store is not None and self.settings.store_predictions:
            self.store.record_predictions(records, actor=f"model:{self.served.version}")
        for r in records:
            self.metrics.products.labels(r.decision).inc()
        return records


def build_state(settings: ServeSettings, metrics: Metrics) -> ServingState:
    """Load the model, settle its threshold and open (migrate) the store. Blocking: run it off the loop."""
    if settings.model_dir is None:
        from skutag.errors import ConfigError

        raise ConfigError("no model directory given (SKUTAG_MODEL_DIR or skutag serve MODEL_DIR)")
    served = load_served_model(
        settings.model_dir,
        target_precision=settings.target_precision,
        threshold=settings.threshold,
        fallback_threshold=settings.fallback_threshold,
    )
    log.info(
        "serving %s (%s), threshold %.4f for precision %.3f (%s)",
        served.name,
        served.version,
        served.threshold,
        served.calibration.target,
        served.calibration.source,
    )
    store = TagStore(settings.db_url) if settings.db_url else None
    tagger = Tagger(served, top_k=settings.top_k)
    state = ServingState(settings, served, tagger, store, None, metrics)  # type: ignore[arg-type]

    def on_batch(rows: int, seconds: float) -> None:
        metrics.batch_rows.observe(rows)
        metrics.batch_seconds.observe(seconds)

    state.batcher = MicroBatcher(
        state.process,
        max_rows=settings.batch_max_rows,
        max_wait=settings.batch_max_wait_ms / 1000.0,
        on_batch=on_batch,
    )
    return state
