"""Clocks: the only place that reads the wall clock.

Scheduling code takes ``now`` from a ``Clock``; the worker passes a ``SystemClock``, the
forecast and the tests a ``VirtualClock`` that moves only when told to.
"""

from __future__ import annotations

import asyncio
import heapq
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


class EventClock:
    """Discrete-event virtual time: ``sleep_until`` parks the caller until a driver moves
    time to that moment with ``advance_to``.

    This lets the unchanged async dispatcher and simulator gateway run a month of calls in
    seconds: the driver (``ringcast.forecast.drive``) jumps from one parked moment to the
    next, so every sleeper wakes at exactly the instant it asked for.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("an EventClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._parked: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._sequence = 0  # ties wake in the order they parked
        self.parked_tasks: set[asyncio.Task[object]] = set()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, at: datetime) -> None:
        if at <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sequence += 1
        heapq.heappush(self._parked, (at.astimezone(UTC), self._sequence, future))
        task = asyncio.current_task()
        if task is not None:
            self.parked_tasks.add(task)
        try:
            await future
        finally:
            if task is not None:
                self.parked_tasks.discard(task)

    def next_wake(self) -> datetime | None:
        """The earliest moment a parked sleeper waits for."""
        while self._parked and self._parked[0][2].done():  # cancelled sleepers
            heapq.heappop(self._parked)
        return self._parked[0][0] if self._parked else None

    def advance_to(self, at: datetime) -> None:
        """Move time to ``at`` and release every sleeper whose moment has come."""
        if at < self._now:
            raise ValueError("time does not go backwards")
        self._now = at.astimezone(UTC)
        while self._parked and self._parked[0][0] <= self._now:
            _, _, future = heapq.heappop(self._parked)
            if not future.done():
                future.set_result(None)
