"""Per-account request limits on a fixed window (Volubile: 100 requests per 15 seconds).

Counted in this process: one ``ringcast serve`` is one limiter. Several server processes
behind a balancer would each allow the limit.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime

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
