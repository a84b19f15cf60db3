"""Errors become responses here, in the shape of the surface the request came through.

* Volubile (``/v1``): ``ErrorResponse`` with a UTC millisecond timestamp; every invalid
  body is a 400 with ``errors[]`` naming each field.
* Sarvam (``/api/scheduling``): FastAPI's own shapes, as Sarvam serves them: 422 with
  ``detail[]`` for validation, ``{"detail": "..."}`` otherwise.
* Everything else (the native surface): ``{"detail": ...}`` like Sarvam.

No handler ever lets a stack trace out: an unexpected error is a 500 with a fixed message,
logged with its traceback on our side only.
"""

from __future__ import annotations

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
            {"field": e.field, "rejectedValue": _jsonable(e.rejected_value), "message": e.message}
            for e in errors
        ]
    return body


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def respond(
    request: Request,
    status: int,
    message: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    kind = surface(request)
    if kind == "volubile":
        return JSONResponse(
            volubile_body(request, status, message, errors), status, headers=headers
        )
    if errors and status == 422:
        detail: Any = [
            {
                "loc": ["body", *_loc(e.field)],
                "msg": e.message,
                "type": "value_error",
                "input": _jsonable(e.rejected_value),
            }
            for e in errors
        ]
        return JSONResponse({"detail": detail}, status, headers=headers)
    return JSONResponse({"detail": message}, status, headers=headers)


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
            return respond(
                request,
                400,
                "Validation failed: " + ", ".join(e.field for e in errors),
                errors=errors,
            )
        return JSONResponse({"detail": _sarvam_detail(exc.errors())}, 422)

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
                "msg": _message(e) if e["type"] != "missing" else "Field required",
                "type": e["type"],
                "input": _jsonable(ctx.get("value", e.get("input"))),
            }
        )
    return out
