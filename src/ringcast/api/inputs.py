"""Input no store can hold is refused at the door, in the surface's error shape.

One ASGI middleware, before any route runs:

* a path or query string holding a NUL character is refused (PostgreSQL's text cannot
  hold one; letting it through made ``GET /v1/campaigns/%00`` a 500);
* a UUID in the path is read in lower case, the way ringcast writes every id it makes:
  UUIDs are case-insensitive, so ``/v1/campaigns/6F1D...`` is the campaign ``6f1d...``;
* a JSON body (``application/json``, ``+json``, or no content type, which FastAPI also
  reads as JSON) goes through ``jsontext.loads``, the one decoding step: NaN, Infinity,
  lone surrogates, NUL characters and deep nesting are a 400 (Volubile) or 422 (the
  others) naming ``body``, before FastAPI's own, laxer decoder sees the bytes.

The provider and runtime callbacks under ``/ringcast/v1/gateway/`` are left to their
routes: their signatures are checked on the raw bytes before anything is parsed, and the
routes then decode with ``jsontext`` themselves.
"""

from __future__ import annotations

import re
from email.message import Message
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from ringcast import jsontext
from ringcast.api import errors
from ringcast.core.errors import FieldError

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

#: Signed callbacks: their routes verify the raw bytes first, then decode with jsontext.
SIGNED_PREFIX = "/ringcast/v1/gateway/"


class WellFormedInput:
    """Refuse NUL in the path or query, and JSON bodies ``jsontext`` refuses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = _refused_url(scope)
        if refused is not None:
            await _refuse(scope, receive, send, refused)
            return
        path = str(scope["path"])
        lowered = _UUID.sub(lambda m: m.group().lower(), path)
        if lowered != path:
            scope = {**scope, "path": lowered}
        if not _json_body(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # the client left before sending its body: nothing to answer
                await self.app(scope, _replay(b"", message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                jsontext.loads(body)
            except jsontext.JsonRefused as exc:
                await _refuse(scope, receive, send, FieldError("body", None, exc.reason))
                return
        await self.app(scope, _replay(body, None, receive), send)


def _json_body(scope: Scope) -> bool:
    if scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    if str(scope["path"]).startswith(SIGNED_PREFIX):
        return False
    content_type = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1")
    if not content_type:
        return True
    parsed = Message()
    parsed["content-type"] = content_type
    subtype = parsed.get_content_subtype()
    return parsed.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _refused_url(scope: Scope) -> FieldError | None:
    path = str(scope["path"])
    reason = jsontext.unsafe_text_reason(path)
    if reason is not None:
        return FieldError("path", errors.excerpt(path), reason)
    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        for text in (name, value):
            reason = jsontext.unsafe_text_reason(text)
            if reason is not None:
                return FieldError(f"query.{name}", errors.excerpt(value), reason)
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, error: FieldError) -> None:
    request = Request(scope, receive)
    volubile = errors.surface(request) == "volubile"
    if volubile:
        error = FieldError(error.field.removeprefix("query."), error.rejected_value, error.message)
    response = errors.respond(
        request, 400 if volubile else 422, f"Validation failed: {error.field}", errors=[error]
    )
    await response(scope, receive, send)


def _replay(body: bytes, first: AsgiMessage | None, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the real channel."""
    sent = False

    async def replay() -> AsgiMessage:
        nonlocal sent
        if not sent:
            sent = True
            if first is not None:
                return first
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
