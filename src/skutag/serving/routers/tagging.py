"""POST /v1/tag: category paths, scores, alternatives and a decision per product, stored before answering."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.exc import SQLAlchemyError

from skutag.serving.deps import Caller, State
from skutag.serving.schemas import Alternative, LevelScore, TagRequest, TagResponse, TagResult

router = APIRouter(prefix="/v1", tags=["tagging"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or invalid API key"},
    404: {"description": "Unknown model"},
    409: {"description": "Two products with one id in the request"},
    413: {"description": "Body too large"},
    422: {"description": "Invalid products, or more of them than the batch limit"},
    503: {"description": "Model loading, store down, or the inference worker failed on this batch (it restarts)"},
}


@router.post("/tag", response_model=TagResponse, responses=_ERRORS, summary="Tag one product or a batch")
async def tag(body: TagRequest, state: State, caller: Caller) -> TagResponse:
    settings = state.settings
    served = state.served
    n = len(body.products)
    if n > settings.max_batch_products:  # the schema's maxItems (set from the settings), hence a 422
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"too many products in one request: {n} (the limit is {settings.max_batch_products}); split the batch",
        )
    if body.model is not None and body.model not in (served.name, served.version):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"unknown model {body.model!r}: this server serves {served.name!r} (version {served.version!r})",
        )
    dupes = [i for i, c in Counter(p.id for p in body.products).items() if c > 1]
    if dupes:  # valid products in conflict over one store key: no schema can say that, so not a 422
        raise HTTPException(status.HTTP_409_CONFLICT, f"duplicate product id(s) in one request: {dupes[:5]}")
    products = [p.fields() for p in body.products]
    empty = [i for i, p in enumerate(products) if not state.tagger.has_text(p)]
    if empty:
        i = empty[0]
        raise HTTPException(
            422,
            f"products[{i}] (id {products[i]['id']!r}): no text to tag; the model reads "
            f"{served.model.text_columns_} from the fields {state.tagger.fields.names}"
            + (f"; {len(empty) - 1} more product(s) are empty" if len(empty) > 1 else ""),
        )
    state.metrics.queue_depth.set(state.batcher.depth)
    try:
        records = await state.batcher.submit(products, body.top_k or settings.top_k)
    except SQLAlchemyError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"tag store unavailable, nothing stored: {type(exc).__name__}"
        ) from None
    for r in records:
        state.metrics.products.labels(r.decision).inc()
    levels = served.model.levels_
    results = [
        TagResult(
            id=r.external_id,
            path=r.path,
            levels=[
                LevelScore(level=lv + 1, name=name, score=r.level_scores[lv] if lv < len(r.level_scores) else None)
                for lv, name in enumerate(r.path[: len(levels)])
            ],
            confidence=r.path_score,
            alternatives=[Alternative(path=a["path"], score=a["score"]) for a in r.topk],
            tags=r.tags,
            decision=r.decision,  # type: ignore[arg-type]
            model_version=r.model_version,
        )
        for r in records
    ]
    return TagResponse(
        model=served.name,
        model_version=served.version,
        threshold=served.threshold,
        target_precision=served.calibration.claimed_precision,
        calibrated=served.calibration.calibrated,
        calibration=served.calibration.summary(),
        stored=state.store is not None and settings.store_predictions,
        results=results,
    )
