"""The review page: static HTML + one vanilla JS file; every product string is rendered as text, never HTML."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/review")
async def review_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "review.html", media_type="text/html; charset=utf-8")


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/review")
