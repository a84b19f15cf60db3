"""Per-account request limits on a fixed window (Volubile: 100 requests per 15 seconds).

Counted in this process: one ``ringcast serve`` is one limiter. Several server processes
behind a balancer would each allow the limit.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ringcast.api.auth import RateLimited


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int


class FixedWindowLimiter:
    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._counts: dict[str, tuple[int, int]] = {}  # account -> (window number, count)
        self._lock = threading.Lock()

    def hit(self, account: str, now: datetime) -> Quota:
        """Count one request; raise ``RateLimited`` past the limit."""
        window = math.floor(now.timestamp() / self.window_s)
        with self._lock:
            seen_window, count = self._counts.get(account, (window, 0))
            if seen_window != window:
                count = 0
            count += 1
            self._counts[account] = (window, count)
        if count > self.limit:
            window_ends = (window + 1) * self.window_s
            raise RateLimited(max(1, math.ceil(window_ends - now.timestamp())))
        return Quota(self.limit, self.limit - count)


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
