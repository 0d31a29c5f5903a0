"""POST /v1/explain: why a product (stored or not) gets its path, as signed word weights with character spans.
Computed on request in the inference worker, outside /v1/tag's path; nothing is stored."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from skutag.explain import methods_for
from skutag.serving.deps import Caller, State
from skutag.serving.schemas import ExplainRequest, ExplainResponse, Explanation
from skutag.taxonomy import PATH_SEP

router = APIRouter(prefix="/v1", tags=["explain"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or invalid API key"},
    413: {"description": "Body too large"},
    404: {"description": "A path the model cannot predict, or a method its kind does not offer (like an unknown "
          "resource: which exist depends on the served model, not on the request's shape)"},
    422: {"description": "Invalid products, or too many of them"},
    503: {"description": "Model loading, or the inference worker failed on this call (it restarts)"},
}  # fmt: skip


@router.post("/explain", response_model=ExplainResponse, responses=_ERRORS, summary="Explain products' paths")
async def explain(body: ExplainRequest, state: State, caller: Caller) -> ExplainResponse:
    served = state.served
    offered = methods_for(served.model)
    if body.method != "auto" and body.method not in offered:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"method {body.method!r} is not offered for a {served.model.kind} model; choose from {['auto', *offered]}",
        )
    path = list(body.path) if body.path else None
    if path is not None and tuple(path) not in set(served.paths):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"path {PATH_SEP.join(path)!r} is not one the model predicts; see /v1/review/taxonomy",
        )
    products = [p.fields() for p in body.products]
    empty = [i for i, p in enumerate(products) if not state.tagger.has_text(p)]
    if empty:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"products[{empty[0]}]: no text for the model's fields {state.tagger.fields.names}",
        )
    results = await state.worker.explain_products(products, path, body.method, body.tags)
    return ExplainResponse(model=served.name, model_version=served.version, results=[Explanation(**r) for r in results])
