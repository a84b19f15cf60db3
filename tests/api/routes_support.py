"""The app's routes as the tests walk them, and the short list of public ones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from ringcast.api.deps import declared_scopes

#: Routes that take no API credential, and why. Nothing else may be public.
PUBLIC_PATHS = {
    "/healthz": "liveness, polled by orchestrators",
    "/readyz": "readiness, polled by orchestrators and load balancers",
    "/metrics": "Prometheus exposition",
    "/openapi.json": "the API document",
    "/docs": "the API document, rendered",
    "/docs/oauth2-redirect": "part of /docs",
    "/redoc": "the API document, rendered",
    "/ringcast/v1/gateway/events": "an http runtime's reports, signed (Standard Webhooks)",
    "/ringcast/v1/gateway/twilio/{connection_id}": "Twilio's callbacks (X-Twilio-Signature)",
    "/ringcast/v1/gateway/twilio/{connection_id}/amd": "Twilio's callbacks (X-Twilio-Signature)",
    "/ringcast/v1/gateway/livekit/{connection_id}": "LiveKit's webhooks (signed JWT)",
    "/ringcast/v1/gateway/retell/{connection_id}": "Retell's webhooks (x-retell-signature)",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    scopes: frozenset[str]

    @property
    def path_ids(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def surface(self) -> str:
        if self.path.startswith("/v1/"):
            return "volubile"
        if self.path.startswith("/api/scheduling/"):
            return "sarvam"
        return "native"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _contexts(app: FastAPI) -> list[Any]:
    try:  # FastAPI >= 0.16x keeps included routers whole; this walks into them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies every route into app.routes
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def is_dashboard(path: str) -> bool:
    """The dashboard's pages (``ringcast.ui``): signed in by session cookie, not an API
    credential; tests/ui checks that each one asks for the session."""
    return path == "/" or path == "/ui" or path.startswith("/ui/")


def api_routes(app: FastAPI) -> Iterator[Route]:
    """Every (method, path) the API answers, with the scopes its dependencies declare."""
    for context in _contexts(app):
        if is_dashboard(getattr(context, "path", "")):
            continue
        dependant = getattr(context, "dependant", None)
        scopes = frozenset(declared_scopes(dependant)) if dependant is not None else frozenset()
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                yield Route(method, context.path, scopes)
