"""The one place where exceptions become HTTP answers (STYLE.md §2.6).

Bad input is 400 with ``{"message": "<field path>: <reason>", "field", "reason"}``, never 422 and never
500; field paths read like ``volumes[2].volume.outline_polygon.vertices[3].lat``. Domain errors map to
the statuses of the issue: 413 area too large, 404, 403, 409 stale ovn or refused plan, 401 with
``WWW-Authenticate: Bearer``. Anything else is a bug: 500 with a generic message, logged with its
traceback, which never reaches the client.

``create_app`` must set ``app.state.frame`` (the region's LocalFrame): a refused plan's alternatives are
sent as F3548 volumes in lat/lng. Layer: api.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from airspace.errors import AirspaceInputError
from api.auth import Forbidden, Unauthorized
from api.schemas import ErrorResponse, RejectionResponse
from utm.errors import AreaTooLarge, InvalidRequest, NotFound, NotManager, PlanRejected, StaleOvn

__all__ = ["field_path", "install_error_handlers"]

logger = logging.getLogger(__name__)

Handler = Callable[[Request, Any], Awaitable[JSONResponse]]
_MAX_INPUT_CHARS = 60


def install_error_handlers(app: FastAPI) -> None:
    """Register every exception -> answer mapping on ``app`` (needs ``app.state.frame`` for 409 plans)."""
    handlers: dict[type[Exception], Handler] = {
        RequestValidationError: _invalid_body,
        ValidationError: _invalid_body,
        InvalidRequest: _field_error(400),
        AirspaceInputError: _field_error(400),
        AreaTooLarge: _field_error(413),
        NotFound: _message(404),
        NotManager: _message(403),
        Forbidden: _message(403),
        Unauthorized: _unauthorized,
        StaleOvn: _stale_ovn,
        PlanRejected: _plan_rejected,
        HTTPException: _http_exception,
        Exception: _internal_error,
    }
    for cls, handler in handlers.items():
        app.add_exception_handler(cls, handler)


def field_path(loc: Sequence[str | int]) -> str:
    """``("body", "volumes", 2, "volume")`` -> ``"volumes[2].volume"``; the body itself is ``"body"``.

    >>> field_path(("body", "volumes", 2, "volume", "outline_polygon", "vertices", 3, "lat"))
    'volumes[2].volume.outline_polygon.vertices[3].lat'
    >>> field_path(("body",)), field_path(("path", "entity_id"))
    ('body', 'path.entity_id')
    """
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _answer(status: int, body: ErrorResponse, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _field_answer(status: int, field: str, reason: str) -> JSONResponse:
    return _answer(status, ErrorResponse(message=f"{field}: {reason}", field=field, reason=reason))


async def _invalid_body(request: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
    """The first pydantic error as 400 with its field path (FastAPI's default would be 422, all errors)."""
    err = exc.errors()[0]
    if err["type"] == "json_invalid":
        detail = err.get("ctx", {}).get("error", "")
        position = f" at character {err['loc'][-1]}" if isinstance(err["loc"][-1], int) else ""
        return _field_answer(400, "body", f"not valid JSON ({detail}{position})")
    return _field_answer(400, field_path(err["loc"]), _reason(err))


def _reason(err: Any) -> str:
    """Pydantic's message in lower case, with the offending input when it is a short scalar."""
    if err["type"] == "missing":
        return "required"
    if err["type"] == "value_error":  # our validators' reasons already quote the value
        return str(err["ctx"]["error"])
    msg = err["msg"][:1].lower() + err["msg"][1:]
    given = err.get("input")
    if isinstance(given, dict | list) or given is None:
        return msg
    text = repr(given)
    return f"{msg} ({text if len(text) <= _MAX_INPUT_CHARS else text[:_MAX_INPUT_CHARS] + '...'})"


def _field_error(status: int) -> Handler:
    async def handle(request: Request, exc: InvalidRequest | AirspaceInputError) -> JSONResponse:
        return _field_answer(status, exc.field, exc.reason)

    return handle


def _message(status: int) -> Handler:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return _answer(status, ErrorResponse(message=getattr(exc, "reason", None) or str(exc)))

    return handle


async def _unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
    return _answer(401, ErrorResponse(message=exc.reason), headers={"WWW-Authenticate": "Bearer"})


async def _stale_ovn(request: Request, exc: StaleOvn) -> JSONResponse:
    return _answer(409, ErrorResponse(message=str(exc) or "the ovn is not current", reason="stale_ovn"))


async def _plan_rejected(request: Request, exc: PlanRejected) -> JSONResponse:
    body = RejectionResponse.of(exc, request.app.state.frame)
    return JSONResponse(body.model_dump(mode="json"), status_code=409)


async def _http_exception(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own errors (unknown route 404, 405) in the same ``{"message"}`` shape."""
    return _answer(exc.status_code, ErrorResponse(message=str(exc.detail)), headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return _answer(500, ErrorResponse(message="internal error; the server log has the details"))
