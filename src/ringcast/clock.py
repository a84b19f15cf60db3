"""Clocks: the only place that reads the wall clock.

Scheduling code takes ``now`` from a ``Clock``; the worker passes a ``SystemClock``, the
forecast and the tests a ``VirtualClock`` that moves only when told to.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...

    async def sleep_until(self, at: datetime) -> None:
        """Return once ``now()`` has reached ``at``."""
        ...


class SystemClock:
    """Wall time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, at: datetime) -> None:
        delay = (at - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class VirtualClock:
    """Time that moves only when told to: by ``advance``, ``set``, or ``sleep_until``."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a VirtualClock needs an aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> datetime:
        if by < timedelta(0):
            raise ValueError("time does not go backwards")
        self._now += by
        return self._now

    def set(self, at: datetime) -> None:
        if at < self._now:
            raise ValueError("time does not go backwards")
        self._now = at.astimezone(UTC)

    async def sleep_until(self, at: datetime) -> None:
        if at > self._now:
            self._now = at.astimezone(UTC)
