"""What the app holds while it runs: the model, the tagger, the store, the worker and its batcher."""

from __future__ import annotations

from dataclasses import dataclass

from skutag.errors import ConfigError
from skutag.log import get_logger
from skutag.serving.batcher import MicroBatcher
from skutag.serving.metrics import Metrics
from skutag.serving.settings import ServeSettings
from skutag.serving.tagger import ServedModel, Tagger, load_served_model
from skutag.serving.worker import WorkerHandle, spec_for, start_worker
from skutag.store import PredictionRecord, TagStore

log = get_logger(__name__)


@dataclass
class ServingState:
    settings: ServeSettings
    served: ServedModel
    tagger: Tagger
    store: TagStore | None
    worker: WorkerHandle
    batcher: MicroBatcher[dict[str, str], PredictionRecord]
    metrics: Metrics

    def close(self) -> None:
        self.worker.close()
        if self.store is not None:
            self.store.close()


def load_model(settings: ServeSettings) -> ServedModel:
    """The model of ``settings`` with its threshold settled; ModelLoadError for a missing or corrupt one."""
    if settings.model_dir is None:
        raise ConfigError("no model directory given (SKUTAG_MODEL_DIR or skutag serve MODEL_DIR)")
    return load_served_model(
        settings.model_dir,
        target_precision=settings.target_precision,
        threshold=settings.threshold,
        fallback_threshold=settings.fallback_threshold,
    )


def build_state(settings: ServeSettings, metrics: Metrics, served: ServedModel | None = None) -> ServingState:
    """Load the model (unless ``served`` is the one already loaded), settle its threshold, open (migrate) the
    store, start the worker. Blocking."""
    served = load_model(settings) if served is None else served
    log.info(
        "serving %s (%s), threshold %.4f: %s",
        served.name,
        served.version,
        served.threshold,
        served.calibration.summary(),
    )
    store = TagStore(settings.db_url) if settings.db_url else None  # runs the migrations once, here
    spec = spec_for(
        served.directory,
        served.calibration,
        settings.top_k,
        settings.db_url,
        settings.store_predictions,
        settings.worker_threads,
    )
    worker = start_worker(spec, process=settings.worker_process, served=served, timeout_s=settings.worker_timeout_s)

    def on_batch(rows: int, seconds: float) -> None:
        metrics.batch_rows.observe(rows)
        metrics.batch_seconds.observe(seconds)

    batcher: MicroBatcher[dict[str, str], PredictionRecord] = MicroBatcher(
        worker.process,
        max_rows=settings.batch_max_rows,
        max_wait=settings.batch_max_wait_ms / 1000.0,
        on_batch=on_batch,
    )
    return ServingState(settings, served, Tagger(served, top_k=settings.top_k), store, worker, batcher, metrics)
