"""Typed FastAPI dependencies: settings, the running state, the store, and the API-key check.

All are ``async def``: FastAPI runs plain ``def`` dependencies in its thread pool, a thread hop per
dependency per request for work that takes microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from skutag.serving.settings import ServeSettings
from skutag.serving.state import ServingState
from skutag.store import TagStore

_bearer = HTTPBearer(auto_error=False, description="An API key from SKUTAG_API_KEYS.")


async def get_settings(request: Request) -> ServeSettings:
    settings: ServeSettings = request.app.state.settings
    return settings


async def get_state(request: Request) -> ServingState:
    state: ServingState | None = getattr(request.app.state, "serving", None)
    if state is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the model is still loading; retry shortly")
    return state


async def get_store(state: Annotated[ServingState, Depends(get_state)]) -> TagStore:
    if state.store is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no tag store configured (--db)")
    return state.store


def key_id(key: str) -> str:
    """A stable, non-secret name for an API key (who did what in the audit log)."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:10]


async def require_key(
    settings: Annotated[ServeSettings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's identity; 401 unless a configured API key is presented (open when none is configured)."""
    keys = settings.keys()
    if not keys:
        return "anonymous"
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = credentials.credentials.encode()
    if not any(hmac.compare_digest(given, k.encode()) for k in keys):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return key_id(credentials.credentials)


State = Annotated[ServingState, Depends(get_state)]
Store = Annotated[TagStore, Depends(get_store)]
Settings = Annotated[ServeSettings, Depends(get_settings)]
Caller = Annotated[str, Depends(require_key)]
