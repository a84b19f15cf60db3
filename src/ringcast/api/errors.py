"""Errors become responses here, in the shape of the surface the request came through.

* Volubile (``/v1``): ``ErrorResponse`` with a UTC millisecond timestamp; every invalid
  body is a 400 with ``errors[]`` naming each field.
* Sarvam (``/api/scheduling``): FastAPI's own shapes, as Sarvam serves them: 422 with
  ``detail[]`` for validation, ``{"detail": "..."}`` otherwise.
* Everything else (the native surface): ``{"detail": ...}`` like Sarvam.

No handler ever lets a stack trace out: an unexpected error is a 500 with a fixed message,
logged with its traceback on our side only. No answer echoes more than a bounded excerpt
of what was sent: each rejected value is cut to ``EXCERPT_CHARS`` (bytes are shown as
text, never as a Python ``b'...'``), and at most ``MAX_ERRORS`` errors are listed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ringcast.api.auth import AuthFailed, RateLimited
from ringcast.api.surfaces import SARVAM_PREFIX, VOLUBILE_PREFIX, surface_of

__all__ = ["SARVAM_PREFIX", "VOLUBILE_PREFIX", "respond", "surface"]
from ringcast.api.volubile.translate import iso_z
from ringcast.core.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    RingcastError,
    ValidationFailed,
)

log = structlog.get_logger()

#: The longest excerpt of a rejected value an error answer carries, in characters.
EXCERPT_CHARS = 200
#: The most field errors one answer lists (a body with a million bad rows gets the first).
MAX_ERRORS = 50


def surface(request: Request) -> str:
    return surface_of(request.url.path)


def field_path(loc: Sequence[Any]) -> str:
    """('body', 'recipients', 3, 'phone') -> 'recipients[3].phone'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def pydantic_field_errors(errors: Sequence[Any]) -> list[FieldError]:
    out = []
    for e in errors:
        ctx = e.get("ctx") or {}
        if ctx.get("field"):
            out.append(FieldError(ctx["field"], ctx.get("value"), e["msg"]))
            continue
        if e["type"] == "json_invalid":
            out.append(FieldError("body", None, "malformed JSON: " + str(ctx.get("error", ""))))
            continue
        value = None if e["type"] == "missing" else e.get("input")
        out.append(FieldError(field_path(e["loc"]) or "body", value, _message(e)))
    return out


def _message(e: Any) -> str:
    if e["type"] == "missing":
        return "is required"
    msg = str(e["msg"])
    return msg.removeprefix("Value error, ")


def volubile_body(
    request: Request, status: int, message: str, errors: list[FieldError] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "timestamp": iso_z(request.app.state.clock.now()),
        "status": status,
        "message": message,
    }
    if errors:
        body["errors"] = [
            {"field": e.field, "rejectedValue": excerpt(e.rejected_value), "message": e.message}
            for e in errors
        ]
    return body


def excerpt(value: Any) -> Any:
    """``value`` as JSON an answer can carry, cut to a bounded excerpt when it is long.

    Small JSON values travel as they are; anything longer (or not JSON: bytes, NaN, a
    date) travels as the start of its text."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value[: EXCERPT_CHARS * 4]).decode("utf-8", errors="replace")
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        try:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False)
            text.encode("utf-8")
        except (ValueError, TypeError):
            pass
        else:
            if len(text) <= EXCERPT_CHARS:
                return value
            if isinstance(value, str):
                return value[:EXCERPT_CHARS] + "..."
            return text[:EXCERPT_CHARS] + "..."
    text = repr(value) if isinstance(value, float) else str(value)
    text = text[:EXCERPT_CHARS].encode("utf-8", errors="replace").decode("utf-8")
    return text + ("..." if len(text) >= EXCERPT_CHARS else "")


def _bounded(errors: list[FieldError]) -> list[FieldError]:
    return [
        FieldError(e.field[:EXCERPT_CHARS], e.rejected_value, _cut(e.message))
        for e in errors[:MAX_ERRORS]
    ]


def _cut(message: str) -> str:
    """A message cut to a bounded length (some quote the value they refuse)."""
    limit = EXCERPT_CHARS * 5
    return message if len(message) <= limit else message[:limit] + "..."


def _fields_message(errors: list[FieldError]) -> str:
    """'Validation failed: a, b' naming each field once, the first ``MAX_ERRORS`` of them."""
    names = list(dict.fromkeys(e.field for e in errors))
    more = f" and {len(names) - MAX_ERRORS} more" if len(names) > MAX_ERRORS else ""
    return "Validation failed: " + ", ".join(names[:MAX_ERRORS]) + more


def respond(
    request: Request,
    status: int,
    message: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    kind = surface(request)
    errors = _bounded(errors) if errors else errors
    message = _cut(message)
    if kind == "volubile":
        return JSONResponse(
            volubile_body(request, status, message, errors), status, headers=headers
        )
    if errors and status == 422:
        detail: Any = [
            {
                "loc": _where(e.field),
                "msg": e.message,
                "type": "value_error",
                "input": excerpt(e.rejected_value),
            }
            for e in errors
        ]
        return JSONResponse({"detail": detail}, status, headers=headers)
    return JSONResponse({"detail": message}, status, headers=headers)


def _where(field: str) -> list[str | int]:
    """FastAPI's ``loc`` for a field: under ``body`` unless it names the path or query."""
    loc = _loc(field)
    if loc and loc[0] in ("path", "query", "header", "body"):
        return loc
    return ["body", *loc]


def _loc(path: str) -> list[str | int]:
    out: list[str | int] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        if part:
            out.append(int(part) if part.isdigit() else part)
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if surface(request) == "volubile":
            errors = pydantic_field_errors(exc.errors())
            return respond(request, 400, _fields_message(errors), errors=errors)
        return JSONResponse({"detail": _sarvam_detail(exc.errors()[:MAX_ERRORS])}, 422)

    @app.exception_handler(ValidationFailed)
    async def _domain_invalid(request: Request, exc: ValidationFailed) -> JSONResponse:
        status = 400 if surface(request) == "volubile" else 422
        return respond(request, status, "Validation failed: " + str(exc), errors=exc.errors)

    @app.exception_handler(InvalidTransition)
    async def _transition(request: Request, exc: InvalidTransition) -> JSONResponse:
        status = 400 if surface(request) == "volubile" else 409
        return respond(request, status, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return respond(request, 404, f"{exc.kind.capitalize()} not found")

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        return respond(request, 409, str(exc))

    @app.exception_handler(RingcastError)
    async def _other_domain(request: Request, exc: RingcastError) -> JSONResponse:
        return respond(request, 400, str(exc))

    @app.exception_handler(AuthFailed)
    async def _auth(request: Request, exc: AuthFailed) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return respond(request, exc.status, exc.message, headers=headers)

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> JSONResponse:
        return respond(request, 429, str(exc), headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return respond(request, exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", path=request.url.path, exc_info=exc)
        return respond(request, 500, "Internal error")


def _sarvam_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        ctx = e.get("ctx") or {}
        loc = ["body", *_loc(ctx["field"])] if ctx.get("field") else list(e["loc"])
        out.append(
            {
                "loc": loc,
                "msg": _cut(_message(e)) if e["type"] != "missing" else "Field required",
                "type": e["type"],
                "input": excerpt(ctx.get("value", e.get("input"))),
            }
        )
    return out
