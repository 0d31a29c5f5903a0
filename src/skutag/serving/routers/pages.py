"""The pages: the review page (static HTML + one vanilla JS file; every product string is rendered as text, never
HTML) and the API docs (Swagger UI from the swagger-ui-bundle package, served here: no CDN, works offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse, RedirectResponse
from swagger_ui_bundle import swagger_ui_path

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SWAGGER_DIR = Path(str(swagger_ui_path))
#: The Swagger UI files /docs needs (the package also holds a demo page pointing at a public petstore).
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}

router = APIRouter(include_in_schema=False)


@router.get("/review")
async def review_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "review.html", media_type="text/html; charset=utf-8")


@router.get("/docs")
async def docs_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "docs.html", media_type="text/html; charset=utf-8")


@router.get("/docs/assets/{name}")
async def docs_asset(name: str) -> FileResponse:
    if name not in DOCS_ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such docs asset")
    return FileResponse(SWAGGER_DIR / name, media_type=DOCS_ASSETS[name])


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/review")
