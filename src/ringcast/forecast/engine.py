"""The forecast: the dispatcher's own planning and retry steps, run on virtual time.

Theory of operation: the real dispatcher (``dispatch.loop``) plans a campaign with
``store.run_tick(..., tick.decide)``, dials each attempt at its pacing slot, and records
each outcome with ``store.end_attempt(..., tick.finish)`` when the gateway reports it.
The forecast runs those same two store operations over a ``MemoryStore``, with the
simulator's ``OutcomeModel`` deciding each call's outcome and duration from the attempt id,
and jumps from one moment where something happens to the next:

* the end of a call (the moment the simulator gateway would report it);
* the campaign's wake-up time (the planner's answer to "when to look again").

Calls that end at a moment are recorded before the campaign is planned at that moment,
as in the dispatcher, whose outcome callbacks run before its next pass. Nothing here reads
the wall clock; ``tests/forecast`` checks that the real dispatcher on an ``EventClock``
produces the very same trace.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ringcast.core import step as tick
from ringcast.core.model import Attempt, Contact
from ringcast.core.planner import CampaignSnapshot
from ringcast.core.step import CallResult, TickWrites
from ringcast.db.memory import MemoryStore
from ringcast.dispatch.loop import DispatchSettings
from ringcast.gateways.simulator import OutcomeModel

#: progress callback: (virtual now, contacts final so far, contacts in all)
Progress = Callable[[datetime, int, int], None]


@dataclass
class Run:
    """What happened during one forecast, beyond what the store holds."""

    started_at: datetime
    stopped_at: datetime
    #: contact ids deferred or skipped, by reason (``outside_contact_hours``, ...)
    deferred: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    ticks: int = 0


def run(
    store: MemoryStore,
    campaign_id: str,
    model: OutcomeModel,
    start: datetime,
    until: datetime | None = None,
    *,
    in_progress: Sequence[Attempt] = (),
    settings: DispatchSettings = DispatchSettings(),
    progress: Progress | None = None,
) -> Run:
    """Run ``campaign_id`` from ``start`` until every contact is final, the campaign stops
    by itself, or ``until``.

    Args:
        in_progress: attempts already dialled and not yet ended (a forecast started from a
            live campaign); they end as the outcome model says.
    """
    with without_cycle_collection():
        return _run(store, campaign_id, model, start, until, in_progress, settings, progress)


@contextlib.contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Hold the cyclic garbage collector off meanwhile.

    A forecast allocates millions of values (its contacts, then several per attempt) and
    forms no reference cycles; the collector's passes over them, each longer as the
    contacts and attempts pile up, cost about an eighth of a run (bench/forecast).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _run(
    store: MemoryStore,
    campaign_id: str,
    model: OutcomeModel,
    start: datetime,
    until: datetime | None,
    in_progress: Sequence[Attempt],
    settings: DispatchSettings,
    progress: Progress | None,
) -> Run:
    stats = Run(started_at=start, stopped_at=start)
    contacts = [k for k in store.contacts.values() if k.campaign_id == campaign_id]
    total = len(contacts)
    final = sum(1 for k in contacts if k.state.is_final)
    ends: list[tuple[datetime, str, CallResult]] = []
    for attempt in in_progress:
        result = model.call(attempt.id, attempt.dialed_at or start)
        heapq.heappush(ends, (max(result.ended_at, start), attempt.id, result))

    def decide(snapshot: CampaignSnapshot, variables: Sequence[str]) -> TickWrites:
        return tick.decide(snapshot, now, settings.horizon, variables)

    now = start
    while True:
        while ends and ends[0][0] <= now:
            _, _, result = heapq.heappop(ends)
            done = store.end_attempt(result, tick.finisher(result))
            if done is not None and done[0].state.is_final:
                final += 1
        if final >= total:
            break
        for cid in store.campaigns_to_plan(now, settings.campaigns_per_pass):
            writes = store.run_tick(
                cid, now, settings.horizon, settings.batch, decide, settings.call_lease
            )
            stats.ticks += 1
            if writes is None:
                continue
            for d in writes.dials:
                result = model.call(d.attempt.id, d.dial_at)
                heapq.heappush(ends, (result.ended_at, d.attempt.id, result))
            for k in writes.deferred:
                _note_deferral(stats, k)
                final += k.state.is_final  # skipped (do-not-call)
        if progress is not None and stats.ticks % 2048 == 0:
            progress(now, final, total)
        nxt = store.earliest_wake()
        if ends and (nxt is None or ends[0][0] < nxt):
            nxt = ends[0][0]
        if nxt is None:
            break
        if until is not None and nxt > until:
            now = until
            break
        now = nxt
    stats.stopped_at = now
    if progress is not None:
        progress(now, final, total)
    return stats


def _note_deferral(stats: Run, contact: Contact) -> None:
    if contact.reason:
        stats.deferred[contact.reason].add(contact.id)
