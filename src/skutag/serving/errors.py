"""Error answers that always encode: a 422 echoes the input, which may hold what strict JSON cannot carry.

FastAPI's own handler echoes each error's input as it came. Python's JSON parser takes lone surrogates
(``"\\ud800"``), ``NaN``, ``Infinity`` and ``1e999``; the response encoder refuses all of them, so a request
that deserved a 422 got a 500. Here the echo is made safe (and short) instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

MAX_ECHO_CHARS = 200
MAX_ECHO_ITEMS = 20
MAX_ECHO_DEPTH = 4
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def safe_text(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters, lone surrogates written as ``\\udXXX`` escapes (UTF-8 has none)."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as strict JSON can carry it: safe text, non-finite numbers as strings, big or deep input cut."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else safe_text(str(value), 40)
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE.get(value, "NaN")
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, Mapping):
        if depth >= MAX_ECHO_DEPTH:
            return "{…}"
        items = list(value.items())[:MAX_ECHO_ITEMS]
        return {safe_text(str(k)): json_safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        if depth >= MAX_ECHO_DEPTH:
            return "[…]"
        return [json_safe(v, depth + 1) for v in value[:MAX_ECHO_ITEMS]]
    return safe_text(str(value))


def safe_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """One pydantic error in the documented shape (loc, msg, type; input and ctx when present), encodable."""
    out: dict[str, Any] = {
        "type": safe_text(str(error.get("type", "")), 100),
        "loc": [p if isinstance(p, int) else safe_text(str(p)) for p in error.get("loc", ())],
        "msg": safe_text(str(error.get("msg", "")), 1000),
    }
    if "input" in error:
        out["input"] = json_safe(error["input"])
    ctx = error.get("ctx")
    if isinstance(ctx, Mapping) and ctx:
        out["ctx"] = {safe_text(str(k)): json_safe(v, 1) for k, v in ctx.items()}
    return out


async def request_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 with every error of the request, whatever its input held."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": [safe_error(e) for e in errors]}, status_code=422)
