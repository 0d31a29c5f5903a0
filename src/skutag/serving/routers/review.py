"""The review API behind the review page: queue, facets, taxonomy picker, evidence, decisions, statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool

from skutag.serving.deps import Caller, State, Store
from skutag.serving.schemas import (
    NO_NUL,
    CorrectDecision,
    Evidence,
    Facets,
    QueueItem,
    QueueResponse,
    ReviewOut,
    ReviewRequest,
    ReviewStats,
    TaxonomyResponse,
)
from skutag.store import NotFoundError
from skutag.taxonomy import PATH_SEP

router = APIRouter(prefix="/v1/review", tags=["review"])

_ERRORS: dict[int | str, dict[str, str]] = {401: {"description": "Missing or invalid API key"}}
Filter = Annotated[str | None, Query(max_length=500, pattern=NO_NUL)]
ProductKey = Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL)]


@router.get("/queue", response_model=QueueResponse, responses=_ERRORS, summary="Products awaiting review")
async def queue(
    store: Store,
    caller: Caller,
    category: Filter = None,
    model_version: Filter = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> QueueResponse:
    """Most uncertain first; filter by top-level category and model version."""

    def read() -> QueueResponse:
        items = store.review_queue(category=category, model_version=model_version, limit=limit, offset=offset)
        total = store.queue_size(category=category, model_version=model_version)
        return QueueResponse(total=total, items=[QueueItem(**i) for i in items])

    return await run_in_threadpool(read)


@router.get("/facets", response_model=Facets, responses=_ERRORS, summary="Filter values present in the queue")
async def facets(store: Store, caller: Caller) -> Facets:
    return Facets(**await run_in_threadpool(store.facets))


@router.get("/stats", response_model=ReviewStats, responses=_ERRORS, summary="Acceptance rate per category")
async def stats(store: Store, caller: Caller) -> ReviewStats:
    def read() -> ReviewStats:
        return ReviewStats(acceptance=store.acceptance_rates(), counts=store.counts())  # type: ignore[arg-type]

    return await run_in_threadpool(read)


@router.get("/taxonomy", response_model=TaxonomyResponse, responses=_ERRORS, summary="Search the model's paths")
async def taxonomy(
    state: State,
    caller: Caller,
    q: Annotated[str, Query(max_length=200, pattern=NO_NUL)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TaxonomyResponse:
    """Paths whose text contains every word of ``q`` (case-insensitive)."""
    words = [w for w in q.lower().split() if w]
    hits = [list(p) for p in state.served.paths if all(w in PATH_SEP.join(p).lower() for w in words)]
    return TaxonomyResponse(total=len(hits), paths=hits[:limit])


@router.get(
    "/product",
    response_model=QueueItem,
    responses={**_ERRORS, 404: {"description": "No such product"}},
    summary="One product with its latest prediction and review",
)
async def product(store: Store, caller: Caller, id: ProductKey) -> QueueItem:
    try:
        return QueueItem(**await run_in_threadpool(store.product, id))
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get(
    "/evidence",
    response_model=Evidence,
    responses={**_ERRORS, 404: {"description": "No such product"}},
    summary="Words that drove the prediction (occlusion)",
)
async def evidence(state: State, store: Store, caller: Caller, id: ProductKey) -> Evidence:
    try:
        item = await run_in_threadpool(store.product, id)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    fields = {"id": item["id"], **{k: str(v) for k, v in item["fields"].items()}}
    pred = item.get("prediction") or {}
    path = pred.get("path") if pred.get("model_version") == state.served.version else None
    if path is not None and not state.served.knows_path(path):
        path = None
    return Evidence(**await state.worker.explain(fields, path))


@router.post(
    "/decisions",
    response_model=ReviewOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_ERRORS,
        404: {"description": "No such product, or a corrected path that is not in the model's taxonomy"},
        422: {"description": "Invalid decision"},
    },
    summary="Accept, correct, or edit tags",
)
async def decide(body: ReviewRequest, state: State, store: Store, caller: Caller) -> ReviewOut:
    path = list(body.path) if isinstance(body, CorrectDecision) else None
    if path is not None and state.served.paths and not state.served.knows_path(path):
        # 404 like an unknown product_id: the body names a category that does not exist here
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"path {PATH_SEP.join(path)!r} is not in the model's taxonomy; pick one from /v1/review/taxonomy",
        )
    actor = caller if not body.reviewer else f"{caller}:{body.reviewer}" if caller != "anonymous" else body.reviewer
    try:
        review = await run_in_threadpool(
            store.review, body.product_id, action=body.action, reviewer=actor, path=path, tags=body.tags
        )
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    state.metrics.reviews.labels(body.action).inc()
    return ReviewOut(**review)
