"""The review API behind the review page: queue, facets, taxonomy picker, evidence, decisions, statistics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool

from skutag.extraction.entries import SOURCE_REVIEW
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
    TagEntryIn,
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
    summary="Words that drove the prediction (the model kind's default explanation)",
)
async def evidence(
    state: State,
    store: Store,
    caller: Caller,
    id: ProductKey,
    tags: Annotated[
        bool,
        Query(
            description="Also explain the product's attribute values and free tags: each one's span and the words "
            "that decided it (a model with those parts; costly: a tagger run per context word tried)."
        ),
    ] = False,
) -> Evidence:
    try:
        item = await run_in_threadpool(store.product, id)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    fields = {"id": item["id"], **{k: str(v) for k, v in item["fields"].items()}}
    pred = item.get("prediction") or {}
    path = pred.get("path") if pred.get("model_version") == state.served.version else None
    if path is not None and not state.served.knows_path(path):
        path = None
    return Evidence(**await state.worker.explain(fields, path, tags))


@router.post(
    "/decisions",
    response_model=ReviewOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_ERRORS,
        404: {"description": "No such product, or a corrected path that is not in the model's taxonomy"},
        422: {"description": "Invalid decision, or a tag's span that is not inside the product's text"},
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
        tags = None
        if body.tags is not None:
            item = await run_in_threadpool(store.product, body.product_id)
            tags = reviewed_tags(body.tags, product_texts(item), body.product_id)
        review = await run_in_threadpool(
            store.review, body.product_id, action=body.action, reviewer=actor, path=path, tags=tags
        )
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    state.metrics.reviews.labels(body.action).inc()
    return ReviewOut(**review)


def product_texts(item: Mapping[str, Any]) -> dict[str, str]:
    """The text fields of a stored product by name, as the review page shows them (``name``, ``description``
    and every other field but the id): the fields a tag's span may point into."""
    texts = {str(k): "" if v is None else str(v) for k, v in (item.get("fields") or {}).items() if k != "id"}
    texts["name"] = str(item.get("name") or "")
    texts["description"] = str(item.get("description") or "")
    return texts


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def reviewed_tags(
    tags: Mapping[str, str | TagEntryIn], texts: Mapping[str, str], product_id: str
) -> dict[str, dict[str, Any]]:
    """A reviewer's tags as the store keeps them (the ``extraction.entries`` shape).

    A span must lie inside its field of the stored product; its ``text`` is read from there (a client's copy
    may be stale or made up), and every entry is the reviewer's (``source: "review"``). A bad span is a 422
    that names the tag, not a silent drop: the reviewer should know which one the server refused.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, given in tags.items():
        entry = TagEntryIn(value=given) if isinstance(given, str) else given
        row: dict[str, Any] = {"value": entry.value}
        if entry.field is not None and entry.start is not None and entry.end is not None:
            where = f"tags[{name!r}]: span [{entry.start}, {entry.end}) in field {entry.field!r}"
            text = texts.get(entry.field)
            if text is None:
                known = ", ".join(repr(k) for k in sorted(texts))
                raise _unprocessable(f"{where}: product {product_id!r} has no such text field (it has {known})")
            if entry.start >= entry.end:
                raise _unprocessable(f"{where}: start must be below end")
            if entry.end > len(text):
                raise _unprocessable(f"{where} is outside the field's text ({len(text)} characters)")
            row.update(text=text[entry.start : entry.end], field=entry.field, start=entry.start, end=entry.end)
        extra = entry.model_dump(include={"confidence", "decision", "kind"}, exclude_none=True)
        out[name] = {**row, **extra, "source": SOURCE_REVIEW}
    return out
