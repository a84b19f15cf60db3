"""Per-account request limits on a fixed window, on every surface.

Each surface has its own limit, counted per organization: ``/v1`` keeps Volubile's
(100 requests per 15 seconds, ``RINGCAST_RATE_LIMIT_REQUESTS`` / ``_WINDOW_S``), the
Sarvam and native surfaces have ringcast's own (``RINGCAST_SARVAM_RATE_LIMIT_*``,
``RINGCAST_NATIVE_RATE_LIMIT_*``, 600 per 60 seconds by default). Every authenticated
request counts (``api.deps.get_principal``); the 429 carries ``Retry-After`` and every
counted answer Volubile's ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining``.

Where the counts live: on PostgreSQL, in the database (``rate_limit_windows``, one upsert
per request), so that every API process behind a balancer shares one count; on SQLite
(one server process) in memory. If the database cannot count, the request is let
through: a limit must not turn a database hiccup into refusals of every request.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ringcast.api.auth import RateLimited
from ringcast.config import Settings

log = structlog.get_logger("ringcast.ratelimit")


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int


@dataclass(frozen=True)
class Rule:
    """``limit`` requests per ``window_s`` seconds."""

    limit: int
    window_s: float


def rules(settings: Settings) -> dict[str, Rule]:
    """Each surface's rule, from the settings (surfaces as ``api.errors.surface`` names them)."""
    return {
        "volubile": Rule(settings.rate_limit_requests, settings.rate_limit_window_s),
        "sarvam": Rule(settings.sarvam_rate_limit_requests, settings.sarvam_rate_limit_window_s),
        "native": Rule(settings.native_rate_limit_requests, settings.native_rate_limit_window_s),
    }


class WindowCounter(Protocol):
    def count_request(self, bucket: str, window_no: int) -> int:
        """Count one request of ``bucket`` in window ``window_no``; its count so far."""
        ...


class MemoryCounter:
    """Counts in this process (SQLite: one server process)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}  # bucket -> (window number, count)
        self._lock = threading.Lock()

    def count_request(self, bucket: str, window_no: int) -> int:
        with self._lock:
            seen_window, count = self._counts.get(bucket, (window_no, 0))
            count = count + 1 if seen_window == window_no else 1
            self._counts[bucket] = (window_no, count)
        return count


class RateLimiter:
    def __init__(self, rules: Mapping[str, Rule], counter: WindowCounter) -> None:
        self.rules = dict(rules)
        self.counter = counter

    def hit(self, surface: str, account: str, now: datetime) -> Quota:
        """Count one request of ``account`` on ``surface``; ``RateLimited`` past its limit."""
        rule = self.rules[surface]
        window = math.floor(now.timestamp() / rule.window_s)
        try:
            count = self.counter.count_request(f"{surface}:{account}", window)
        except Exception:
            log.exception("the request could not be counted; let through", surface=surface)
            return Quota(rule.limit, rule.limit)
        if count > rule.limit:
            window_ends = (window + 1) * rule.window_s
            raise RateLimited(max(1, math.ceil(window_ends - now.timestamp())))
        return Quota(rule.limit, rule.limit - count)


class QuotaHeaders:
    """ASGI middleware: a counted request's answer says its quota (``X-RateLimit-Limit``,
    ``X-RateLimit-Remaining``, Volubile's headers), from ``request.state.quota``. Pure
    ASGI rather than ``BaseHTTPMiddleware``, which would read the body in a task of its
    own and hide a ``BodyTooLarge`` from the handler that answers it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_quota(message: Message) -> None:
            quota = scope.get("state", {}).get("quota")
            if message["type"] == "http.response.start" and isinstance(quota, Quota):
                headers = MutableHeaders(scope=message)
                headers["X-RateLimit-Limit"] = str(quota.limit)
                headers["X-RateLimit-Remaining"] = str(quota.remaining)
            await send(message)

        await self.app(scope, receive, with_quota)
