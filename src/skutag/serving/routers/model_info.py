"""GET /v1/models: what is served, its version, threshold and validation figures."""

from __future__ import annotations

from fastapi import APIRouter

from skutag.serving.deps import State
from skutag.serving.schemas import ModelInfo, ModelsResponse

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelsResponse, summary="Models served")
async def models(state: State) -> ModelsResponse:
    return ModelsResponse(models=[ModelInfo(**state.served.info())])
