"""Watching the HTTP server and a worker: per-request metrics and spans, and the small
probe server a ``ringcast worker --metrics-port`` runs.

Requests are labelled by their route's path template (``/v1/campaigns/{campaign_id}``),
read from the route the router matched, never by the raw path: the label's values are
the app's routes, a few dozen, whatever clients send; a path no route matches counts as
``unmatched`` and a method outside HTTP's usual ones as ``other``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import ringcast
from ringcast import telemetry
from ringcast.metrics import Metrics, token_accepted

log = structlog.get_logger("ringcast.observe")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
#: a worker whose dispatcher loop has not gone round for this long is not alive: a pass
#: waits on the database for at most a few lease lengths, an idle loop wakes every 200 ms
STALE_AFTER_S = 120.0


def route_template(scope: Scope, root_path: str = "") -> str:
    """The matched route's path template, with the prefix of the mount it is under (the
    router moves that into the scope's ``root_path``, which was ``root_path`` on the way
    in); ``unmatched`` when no route took the request."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    mounted = str(scope.get("root_path", ""))
    return (mounted[len(root_path) :] if mounted.startswith(root_path) else "") + path


class HttpObserver:
    """ASGI middleware: counts and times each request by (method, route, status) and,
    when tracing is on, wraps it in a server span named ``METHOD /route/{template}``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "other"
        status = 500  # what the client sees if the app fails before answering
        root_path = str(scope.get("root_path", ""))
        started = time.perf_counter()

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with telemetry.span(f"{method}", server=True, headers=scope["headers"]) as span:
            try:
                await self.app(scope, receive, observed_send)
            finally:
                route = route_template(scope, root_path)
                self.metrics.http_requests.labels(method, route, str(status)).inc()
                self.metrics.http_duration.labels(method, route).observe(
                    time.perf_counter() - started
                )
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)


def probe_app(
    metrics: Metrics, metrics_token: str | None, stale_after_s: float = STALE_AFTER_S
) -> Starlette:
    """A worker's own HTTP face: ``/metrics`` (the same exposition and token rule as the
    server's) and ``/healthz`` (200 while its dispatcher loop goes round, else 503)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def prometheus(request: Request) -> Response:
        if not token_accepted(metrics_token, request.headers.get("authorization")):
            return JSONResponse({"detail": "a valid metrics token is required"}, 401)
        body = await asyncio.to_thread(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        age = metrics.heartbeat.age_s()
        body: dict[str, Any] = {"version": ringcast.__version__, "last_pass_s": round(age, 3)}
        if age > stale_after_s:
            return JSONResponse({"status": "stalled", **body}, 503)
        return JSONResponse({"status": "ok", **body})

    return Starlette(routes=[Route("/metrics", prometheus), Route("/healthz", healthz)])


class ProbeServer:
    """``probe_app`` served by uvicorn on a thread of its own, so a scrape never waits on
    the dispatcher's event loop (nor it on a scrape). The socket is bound by ``start``
    on the caller's thread: a port already taken is an ``OSError`` there."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        import uvicorn

        self.host, self.port = host, port
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 10) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="ringcast-probes",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)

    def stop(self, timeout_s: float = 5) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
