"""A plan's dial slots start ahead of the clock by the time its commit takes (``lead``),
so that a paced campaign's first dials of each plan are not late by its own write.

The store's commit is made to take a known time on a virtual clock: the wrapper below
moves the clock on after the planning transaction, as a slow database would.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from ringcast.clock import VirtualClock
from ringcast.core.step import TickWrites
from ringcast.db.memory import MemoryStore
from ringcast.dispatch.loop import Dispatcher, DispatchSettings
from tests.dispatch.test_unexpected_errors import RaisesFor, attempts, make_campaign
from tests.integration.factories import T0

MS = timedelta(milliseconds=1)


class SlowCommit:
    """A store whose planning transaction takes ``took`` on ``clock`` to commit."""

    def __init__(self, store: Any, clock: VirtualClock, took: timedelta) -> None:
        self.store, self.clock, self.took = store, clock, took

    def run_tick(self, *args: Any, **kw: Any) -> TickWrites | None:
        writes: TickWrites | None = self.store.run_tick(*args, **kw)
        self.clock.advance(self.took)
        return writes

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def first_slots(store: Any, took: timedelta, lead_most: timedelta) -> tuple[datetime, timedelta]:
    """The earliest dial slot of one pass over a paced campaign, and the lead after it."""
    c = make_campaign(store, 5)
    clock = VirtualClock(T0)
    dispatcher = Dispatcher(
        SlowCommit(store, clock, took),
        clock,
        RaisesFor(set()),
        DispatchSettings(lead_most=lead_most),
    )
    asyncio.run(dispatcher.step())
    placed = attempts(store, c)
    assert placed  # the campaign was planned
    return min(a.dialed_at for a in placed if a.dialed_at is not None), dispatcher.lead


def test_without_a_lead_slots_start_at_the_clock() -> None:
    """The default (a forecast, tests on virtual time) plans from the clock's own moment."""
    first, lead = first_slots(MemoryStore(), 30 * MS, timedelta(0))
    assert first == T0
    assert lead == timedelta(0)


def test_slots_start_a_lead_ahead_and_the_lead_follows_the_commit() -> None:
    """The first plan starts its slots the most ahead; its commit's time, and a slowly
    falling peak of the commits before, is the lead of the next plans."""
    first, lead = first_slots(MemoryStore(), 30 * MS, 100 * MS)
    assert first == T0 + 100 * MS
    assert lead == 90 * MS  # a tenth less than before, still above the 30 ms it took


def test_the_lead_is_never_more_than_the_most() -> None:
    """A commit slower than ``lead_most`` leaves the lead at the most."""
    _, lead = first_slots(MemoryStore(), 500 * MS, 100 * MS)
    assert lead == 100 * MS
