"""The FastAPI application: ``create_app(settings)``; the model is loaded once, in ``lifespan`` or (``skutag
serve``) before the server starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from skutag import __version__
from skutag.errors import ConfigError, InputError, SkutagError, WorkerError
from skutag.log import get_logger
from skutag.serving.errors import request_validation_error
from skutag.serving.metrics import Metrics
from skutag.serving.middleware import BodyLimitMiddleware, MetricsMiddleware
from skutag.serving.routers import explain, health, model_info, pages, review, tagging
from skutag.serving.routers.pages import STATIC_DIR
from skutag.serving.settings import ServeSettings
from skutag.serving.state import build_state, load_model
from skutag.serving.tagger import ServedModel
from skutag.serving.worker import settle_heap
from skutag.store import NotFoundError

log = get_logger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServeSettings = app.state.settings
    if not settings.keys():
        log.warning("no API keys set (SKUTAG_API_KEYS): tagging and review endpoints are open to anyone")
    state = await run_in_threadpool(build_state, settings, app.state.metrics, app.state.preloaded)
    app.state.preloaded = None  # the state holds it now
    try:
        version = await state.worker.ping()  # the worker has loaded the model and warmed up
    except BaseException:
        state.close()
        raise
    log.info("inference worker ready (%s, %s)", version, "process" if settings.worker_process else "thread")
    settle_heap()  # no full garbage collection over the loaded model in the middle of a request
    await state.batcher.start()
    app.state.serving = state
    app.state.metrics.ready.set(1)
    try:
        yield
    finally:
        app.state.metrics.ready.set(0)
        app.state.serving = None
        await state.batcher.stop()
        state.close()


async def _skutag_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, WorkerError):  # only the requests of the failed batch see this; the worker restarts
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})
    code = 404 if isinstance(exc, NotFoundError) else 422 if isinstance(exc, InputError | ConfigError) else 400
    return JSONResponse({"detail": str(exc)}, status_code=code)


#: What FastAPI answers when a body cannot be parsed at all (before any schema check), for the schema to say so.
BODY_PARSE_ERROR = {
    "description": "Unreadable body: not UTF-8, nested too deeply, or a number too long to parse",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}},
}
HTTP_ERROR_SCHEMA = {
    "title": "HTTPError",
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "string"}},
    "required": ["detail"],
}


def _openapi_with_limits(app: FastAPI, settings: ServeSettings) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` that also states what depends on settings or on FastAPI's body parsing: the batch limit
    (maxItems) and the 400 of every operation that reads a body."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["TagRequest"]["properties"]["products"]["maxItems"] = settings.max_batch_products
            schemas["HTTPError"] = HTTP_ERROR_SCHEMA
            for operations in schema["paths"].values():
                for operation in operations.values():
                    if "requestBody" in operation:
                        operation["responses"].setdefault("400", BODY_PARSE_ERROR)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(settings: ServeSettings | None = None, served: ServedModel | None = None) -> FastAPI:
    """A new app (nothing is loaded until it starts: the lifespan loads the model, unless ``served`` is it
    already, and opens the store)."""
    settings = settings or ServeSettings()
    app = FastAPI(
        title="skutag",
        version=__version__,
        description="Automatic product categorisation and tagging, with a human review queue.",
        lifespan=lifespan,
        docs_url=None,  # /docs is served by the pages router, from local files (FastAPI's loads a CDN)
        redoc_url=None,  # ReDoc exists only on a CDN
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.serving = None
    app.state.preloaded = served
    app.include_router(tagging.router)
    app.include_router(explain.router)
    app.include_router(model_info.router)
    app.include_router(review.router)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(SkutagError, _skutag_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.openapi = _openapi_with_limits(app, settings)  # type: ignore[method-assign]
    return app


def run_server(settings: ServeSettings) -> None:
    """Load the model, then serve with uvicorn until interrupted (blocking).

    The model is loaded here, before uvicorn starts, so that a missing or corrupt one raises ModelLoadError
    to the CLI (one line, like ``skutag predict``) rather than a traceback from inside uvicorn's startup.
    """
    import uvicorn

    served = load_model(settings)
    uvicorn.run(
        create_app(settings, served),
        host=settings.host,
        port=settings.port,
        loop=settings.loop,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
