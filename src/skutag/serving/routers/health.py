"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from skutag.serving.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Not ready"}},
    summary="Readiness: model loaded and store reachable",
)
async def readyz(request: Request, response: Response) -> Health:
    state = getattr(request.app.state, "serving", None)
    metrics = request.app.state.metrics
    if state is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        metrics.ready.set(0)
        return Health(status="loading", detail={"model": False})
    store_ok = True if state.store is None else await run_in_threadpool(state.store.ping)
    metrics.ready.set(1 if store_ok else 0)
    if not store_ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status="ready" if store_ok else "store unavailable",
        detail={"model": state.served.version, "store": store_ok},
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    state = getattr(request.app.state, "serving", None)
    if state is not None:
        request.app.state.metrics.queue_depth.set(state.batcher.depth)
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
