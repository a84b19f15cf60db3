"""Request bodies are bounded before they are read: one ASGI middleware for every route.

A body larger than its route's limit is refused with 413, in the shape of the surface it
came through, as soon as that is known: at once when its ``Content-Length`` says so,
else when the bytes received so far pass the limit (``receive`` raises ``BodyTooLarge``
and the rest is never read). Nothing of the body is held beyond what the route itself
reads, so an unauthenticated 300 MB POST costs the server its limit's worth of memory,
not 300 MB.

Limits, first match wins:

* provider and runtime callbacks (``/ringcast/v1/gateway/...``): ``CALLBACK_LIMIT``
  (1 MiB), signed reports read whole before their signature is checked;
* uploads (a Sarvam cohort's CSV, a do-not-call import): ``RINGCAST_MAX_UPLOAD_BYTES``
  (256 MiB by default); their routes stream to disk, never into memory;
* everything else: ``RINGCAST_MAX_BODY_BYTES`` (4 MiB by default, room for a Volubile
  campaign's 1,000 recipients with their variables).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ringcast.api import errors

#: what a provider's or a runtime's report may weigh
CALLBACK_LIMIT = 1024 * 1024
#: the routes whose bodies are uploaded files, streamed to disk
UPLOAD_ROUTES = (
    re.compile(r"^/api/scheduling/v1/orgs/[^/]+/workspaces/[^/]+/campaigns/[^/]+/cohorts/upload$"),
    re.compile(r"^/ringcast/v1/do-not-call/import$"),
    re.compile(r"^/ui/account/do-not-call/import$"),  # the dashboard's import form
)
CALLBACK_ROUTES = (re.compile(r"^/ringcast/v1/gateway/"),)


class BodyTooLarge(HTTPException):
    """The body passed its route's limit (an ``HTTPException``: FastAPI lets it through
    its body parsing untouched, and the app's handler answers it in the surface's shape)."""

    def __init__(self, limit: int) -> None:
        # Connection: close, so the server does not read the unread rest of the body.
        super().__init__(
            413, f"the request body may not exceed {limit} bytes", {"Connection": "close"}
        )


@dataclass(frozen=True)
class Limits:
    default: int
    uploads: int
    callbacks: int = CALLBACK_LIMIT

    def of(self, path: str) -> int:
        """The limit of the route at ``path``."""
        if _any(CALLBACK_ROUTES, path):
            return self.callbacks
        if _any(UPLOAD_ROUTES, path):
            return self.uploads
        return self.default


def _any(patterns: Sequence[re.Pattern[str]], path: str) -> bool:
    return any(p.search(path) for p in patterns)


class BodyLimit:
    """The ASGI middleware: every HTTP request's body counted against its route's limit."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.of(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, BodyTooLarge(limit))
            return
        received = 0
        started = False

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded, watched)
        except BodyTooLarge as exc:  # raised where no handler answered it
            if started:
                raise
            await _refuse(scope, receive, send, exc)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
    response = errors.respond(
        Request(scope), exc.status_code, str(exc.detail), headers=dict(exc.headers or {})
    )
    await response(scope, receive, send)
