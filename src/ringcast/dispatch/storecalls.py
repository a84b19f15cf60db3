"""Running the store's blocking transactions from the event loop.

The dispatcher and the call-end sink share these two: one store call, on a worker thread
when ``offload`` is set (so dial slots are kept while the database works); and the same,
retried with backoff while the database is unreachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError

log = structlog.get_logger("ringcast.dispatch")

T = TypeVar("T")

#: The first wait after the database could not be reached; each next one doubles.
FIRST_BACKOFF = timedelta(milliseconds=200)


async def call(work: Callable[[], T], *, offload: bool) -> T:
    """Run one store call, on a worker thread when ``offload`` is set."""
    if offload:
        return await asyncio.to_thread(work)
    return work()


def is_outage(exc: BaseException) -> bool:
    """Whether a store call failed because the database could not be reached, rather than
    because of what it was asked (a value out of range, a broken constraint): only the
    first goes away by trying again, the second would be retried for ever."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


async def call_retrying(work: Callable[[], T], *, offload: bool, max_backoff: timedelta) -> T:
    """Run one store call, again and again while the database cannot be reached; any other
    failure is raised at once."""
    backoff = FIRST_BACKOFF.total_seconds()
    while True:
        try:
            return await call(work, offload=offload)
        except DBAPIError as exc:
            if not is_outage(exc):
                raise
            log.warning("database unavailable; retrying", error=str(exc).splitlines()[0])
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff.total_seconds())
