"""Run the real dispatcher, unchanged, on an ``EventClock``.

The worker runs ``Dispatcher.run``, which waits between passes on wall time. Here the
same ``Dispatcher.step`` and the same gateway tasks run, but time jumps straight to the
next moment anything waits for: a parked sleeper (a dial slot, a simulated call's end)
or the earliest campaign wake-up in the store. This is how tests compare the real
dispatcher with the forecast, and how a whole month of dialling is checked in seconds.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol, TypeVar

from ringcast.clock import EventClock
from ringcast.dispatch.loop import Dispatcher
from ringcast.ports import CampaignStore, DispatchStore


class DrivenStore(DispatchStore, CampaignStore, Protocol):
    """The dispatcher's store, which the driver also asks whether the contacts are final."""


StoreT = TypeVar("StoreT", bound=DrivenStore)


async def settle(clock: EventClock) -> None:
    """Let every released task run until it is parked on the clock again or done."""
    me = asyncio.current_task()
    while True:
        await asyncio.sleep(0)
        busy = [
            t
            for t in asyncio.all_tasks()
            if t is not me and not t.done() and t not in clock.parked_tasks
        ]
        if not busy:
            return


async def drive(
    dispatcher: Dispatcher[StoreT],
    clock: EventClock,
    campaign_id: str,
    until: datetime | None = None,
) -> datetime:
    """Step ``dispatcher`` until the campaign's contacts are all final, nothing is left to
    wait for, or ``until``; returns the moment it stopped."""
    store = dispatcher.store
    while True:
        await dispatcher.step()
        await settle(clock)
        if clock.next_wake() is None and _all_final(store, campaign_id):
            return clock.now()
        upcoming = [at for at in (store.earliest_wake(), clock.next_wake()) if at is not None]
        if not upcoming:
            return clock.now()
        nxt = min(upcoming)
        if until is not None and nxt > until:
            clock.advance_to(until)
            return until
        clock.advance_to(nxt)
        await settle(clock)


def _all_final(store: CampaignStore, campaign_id: str) -> bool:
    counts = store.count_contacts(campaign_id)
    return all(state.is_final for state, n in counts.items() if n)
