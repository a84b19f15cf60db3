"""The call-end sink every end goes through: group commit, one-by-one fallback, metrics."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from ringcast.clock import VirtualClock
from ringcast.core.model import Attempt, Contact, ContactState
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.step import CallResult, Finish
from ringcast.db.memory import MemoryStore
from ringcast.dispatch.ends import CallEnds, EndNotRecorded
from ringcast.dispatch.loop import Dispatcher
from ringcast.metrics import ATTEMPTS, Metrics
from tests.integration.factories import T0, campaign, contacts, seed_account


class Watched:
    """A memory store whose ``end_attempts`` records each batch it is given; it can be
    held until released, refuse ends of ``poisoned`` attempts, or be away a few times."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.batches: list[list[str]] = []
        self.poisoned: set[str] = set()
        self.outages = 0
        self.hold: threading.Event | None = None
        self.holding = threading.Event()

    def end_attempts(
        self, ends: Sequence[tuple[CallResult, Finish]]
    ) -> list[tuple[Contact, Attempt] | None]:
        self.batches.append([r.attempt_id for r, _ in ends])
        if self.hold is not None:
            self.holding.set()
            self.hold.wait(timeout=10)
            self.hold = None
        if self.outages:
            self.outages -= 1
            raise OperationalError("end_attempts", {}, ConnectionError("database away"))
        if any(r.attempt_id in self.poisoned for r, _ in ends):
            raise ValueError("an end the store cannot take")
        return self.store.end_attempts(ends)


def dialled(n: int) -> tuple[Watched, list[str]]:
    """A memory store with ``n`` attempts dialled, and their ids."""
    store = MemoryStore()
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id, pacing=PacingLimits(attempts_per_second=100))
    store.create_campaign(c, contacts(c.id, n, due_at=T0))
    dispatcher = Dispatcher(store, VirtualClock(T0))
    asyncio.run(dispatcher.step())
    asyncio.run(dispatcher.drain())
    attempt_ids = [a.id for a in store.campaign_attempts(c.id)]
    assert len(attempt_ids) == n
    return Watched(store), attempt_ids


def ended(attempt_id: str, outcome: Outcome = Outcome.COMPLETED) -> CallResult:
    return CallResult(attempt_id, outcome, T0 + timedelta(minutes=5))


def counted(metrics: Metrics, outcome: Outcome) -> float:
    return metrics.registry.get_sample_value(ATTEMPTS, {"outcome": outcome.value}) or 0.0


def test_ends_arriving_during_a_write_are_written_together_next() -> None:
    """Ends that arrive while a write is under way wait for it, then go in one transaction."""
    store, ids = dialled(4)
    store.hold = threading.Event()
    ends = CallEnds(store, Metrics(), offload=True)

    async def scenario() -> list[tuple[Contact, Attempt] | None]:
        first = asyncio.create_task(ends.record(ended(ids[0])))
        await asyncio.to_thread(store.holding.wait, 10)  # the first write is under way
        rest = [asyncio.create_task(ends.record(ended(i))) for i in ids[1:]]
        await asyncio.sleep(0)  # they are waiting
        assert store.hold is not None
        store.hold.set()
        return await asyncio.gather(first, *rest)

    written = asyncio.run(scenario())
    assert store.batches == [ids[:1], ids[1:]]
    assert [a.id for _, a in written] == ids
    assert all(a.outcome is Outcome.COMPLETED for _, a in written)


def test_a_write_takes_at_most_per_write_ends() -> None:
    """A burst larger than ``per_write`` is written in transactions of that many."""
    store, ids = dialled(5)
    ends = CallEnds(store, Metrics(), per_write=2)

    async def scenario() -> None:
        await asyncio.gather(*(ends.record(ended(i)) for i in ids))

    asyncio.run(scenario())
    assert store.batches == [ids[:2], ids[2:4], ids[4:]]


def test_a_failed_batch_is_written_one_by_one_and_each_end_counted_once() -> None:
    """One end the store refuses does not keep the others of its batch from being recorded;
    it alone fails (after one try as an internal error, which the store refuses too), and
    only ends actually recorded are counted in the metrics."""
    store, ids = dialled(3)
    store.poisoned = {ids[1]}
    metrics = Metrics()
    ends = CallEnds(store, metrics)

    async def scenario() -> list[object]:
        return await asyncio.gather(
            *(ends.record(ended(i, Outcome.NO_ANSWER)) for i in ids), return_exceptions=True
        )

    first, refused, third = asyncio.run(scenario())
    assert store.batches == [ids, ids[:1], ids[1:2], ids[1:2], ids[2:]]
    assert isinstance(refused, EndNotRecorded)
    assert isinstance(refused.__cause__, ValueError)
    assert [a.id for _, a in (first, third)] == [ids[0], ids[2]]
    assert counted(metrics, Outcome.NO_ANSWER) == 2


def test_a_repeated_end_is_recorded_and_counted_once() -> None:
    """The same end reported twice is written once; the repeat returns None, uncounted."""
    store, ids = dialled(1)
    metrics = Metrics()
    ends = CallEnds(store, metrics)

    async def scenario() -> tuple[object, object]:
        return await ends.record(ended(ids[0])), await ends.record(ended(ids[0]))

    first, repeat = asyncio.run(scenario())
    assert first is not None and repeat is None
    assert counted(metrics, Outcome.COMPLETED) == 1
    (contact,) = store.store.contacts.values()
    assert contact.state is ContactState.REACHED


def test_an_outage_is_waited_out_by_the_dispatcher_and_reported_by_a_route() -> None:
    """The dispatcher's sink retries while the database is away; a route's sink fails the
    end instead, so its caller reports again, and that second report is recorded."""
    store, ids = dialled(2)
    store.outages = 1
    waiting = CallEnds(store, Metrics())
    assert asyncio.run(waiting.record(ended(ids[0]))) is not None
    assert store.batches == [ids[:1], ids[:1]]

    store.outages = 2  # the batch, then the end alone
    failing = CallEnds(store, Metrics(), wait_out_outages=False)
    with pytest.raises(EndNotRecorded):
        asyncio.run(failing.record(ended(ids[1])))
    assert asyncio.run(failing.record(ended(ids[1]))) is not None


def test_the_dispatcher_reports_through_its_sink_and_survives_a_refused_end() -> None:
    """``Dispatcher.report`` records through ``CallEnds`` and, when the end cannot be
    written, returns quietly: the attempt is left for reconciliation."""
    store, ids = dialled(2)
    store.poisoned = {ids[0]}
    dispatcher = Dispatcher(store, VirtualClock(T0))

    async def scenario() -> None:
        await asyncio.gather(*(dispatcher.report(ended(i)) for i in ids))

    asyncio.run(scenario())
    assert counted(dispatcher.metrics, Outcome.COMPLETED) == 1
    assert store.store.attempts[ids[0]].outcome is Outcome.IN_PROGRESS
    assert store.store.attempts[ids[1]].outcome is Outcome.COMPLETED
