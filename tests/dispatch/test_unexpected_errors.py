"""An unexpected error never parks an attempt: a dial or an end that raises ends its
attempt at once as ``internal_error`` with a reason, the other attempts go on, and neither
the reconciler nor the planner spins on one bad attempt or campaign.

Each test runs on SQLite and PostgreSQL (and the in-memory twin where the store fixture
gives it); faults are injected at the store's or the gateway's boundary, the database is
real.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import DataError, OperationalError

from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.core import step as tick
from ringcast.core.model import Attempt, Contact, ContactState
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import MAX_RETRY_INTERVAL, RetryPolicy, RetryRule
from ringcast.core.routing import Route
from ringcast.core.step import CallResult, Finish
from ringcast.db.store import SqlStore
from ringcast.dispatch import runner, storecalls
from ringcast.dispatch.loop import Dispatcher, DispatchSettings
from ringcast.gateways.base import Accepted, CallGateway, DialRequest
from ringcast.metrics import ATTEMPTS
from ringcast.records import Campaign, Connection
from ringcast.runtime import Runtime
from tests.integration.factories import T0, campaign, contacts, seed_account

CALLER = "+33100000001"
LEASE = timedelta(minutes=10)


def make_campaign(store: Any, n: int, routes: tuple[Route, ...] = (), **over: Any) -> Campaign:
    """A campaign of ``n`` contacts due now, dialled at 100/s (all in one pass)."""
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id, pacing=PacingLimits(attempts_per_second=100), **over)
    c = replace(c, config=replace(c.config, routes=routes))
    people = contacts(c.id, n)
    people = [replace(p, phone=f"+3361{i:05d}{n:02d}") for i, p in enumerate(people)]
    store.create_campaign(c, people)
    return c


def attempts(store: Any, c: Campaign) -> list[Attempt]:
    return sorted(store.campaign_attempts(c.id), key=lambda a: a.id)


class RaisesFor(CallGateway):
    """Accepts every dial but those to ``bad``, for which it raises what no gateway should
    (a bug, not a ``GatewayError``); the calls it accepts never report back."""

    supports_idempotency = True

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad
        self.placed: list[str] = []

    async def place_call(self, request: DialRequest) -> Accepted:
        if request.to in self.bad:
            raise RuntimeError("a bug in a gateway")
        self.placed.append(request.attempt_id)
        return Accepted(f"call-{request.attempt_id}")


def test_a_dial_that_raises_ends_its_attempt_at_once_and_the_others_are_placed(store) -> None:
    """A gateway raising an unexpected error for one number ends that attempt at once as
    ``internal_error`` with the error's type as its reason; the other dials go out."""
    c = make_campaign(store, 4)
    phones = sorted(p.phone for p in store.campaign_contacts(c.id))
    gateway = RaisesFor({phones[1]})
    clock = VirtualClock(T0)
    dispatcher = Dispatcher(store, clock, gateway, DispatchSettings(call_lease=LEASE))

    async def scenario() -> None:
        await dispatcher.step()
        await dispatcher.drain()

    asyncio.run(scenario())
    by_phone = {store.get_contact(a.contact_id).phone: a for a in attempts(store, c)}
    failed = by_phone.pop(phones[1])
    assert failed.outcome is Outcome.INTERNAL_ERROR
    assert failed.failure_reason == "ringcast could not place the call: RuntimeError"
    assert failed.ended_at is not None and failed.ended_at < T0 + timedelta(seconds=1)
    assert sorted(gateway.placed) == sorted(a.id for a in by_phone.values())
    assert all(a.outcome is Outcome.IN_PROGRESS for a in by_phone.values())
    assert store.get_contact(failed.contact_id).state is not ContactState.DIALING


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runtime(request: pytest.FixtureRequest) -> Runtime:
    """A runtime on each SQL backend whose connections' gateways are the deployment's own
    (``dispatch.runner.connection_gateways``), private addresses allowed."""
    engine = request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
    return Runtime(Settings(webhooks_allow_private=True), engine, SqlStore(engine))


def connection(org_id: str, connection_id: str, gateway: str, settings: dict[str, Any]):
    return Connection(
        org_id, connection_id, connection_id, gateway, settings, (CALLER,), None, None, T0, T0
    )


@pytest.mark.parametrize(
    ("gateway", "settings"),
    [
        # stored before these settings were checked: they fail every dial
        ("simulator", {"outcomes": "answered=1", "talk_s": 1e300, "ring_s": 20, "seed": 0}),
        ("http", {"url": "http://127.0.0.1:9", "secret": "not base64, not at all!"}),
    ],
    ids=["simulator-talk-1e300", "http-secret-not-base64"],
)
def test_a_connection_whose_settings_fail_every_dial_parks_no_attempt(
    runtime: Runtime, gateway: str, settings: dict[str, Any]
) -> None:
    """Dials through a connection whose stored settings make the gateway raise (a talk
    time of 1e300 s, a secret that is not base64) end at once as ``internal_error``, not
    ``dialing`` for the call lease; another campaign's calls go on and end."""
    store = runtime.store
    bad = make_campaign(store, 3, routes=(Route("broken", (CALLER,)),))
    store.put_connection(connection(bad.org_id, "broken", gateway, settings))
    good = make_campaign(store, 2)
    clock = VirtualClock(T0)
    dispatcher: Dispatcher[Any] = Dispatcher(store, clock, settings=DispatchSettings())
    dispatcher.gateway = runner.connection_gateways(runtime, clock, dispatcher.report)

    async def scenario() -> None:
        await dispatcher.step()
        await dispatcher.drain()
        await dispatcher.gateway.drain()  # type: ignore[union-attr]
        await dispatcher.drain()

    asyncio.run(scenario())
    parked = attempts(store, bad)
    assert len(parked) == 3
    assert {a.outcome for a in parked} == {Outcome.INTERNAL_ERROR}
    assert all(
        (a.failure_reason or "").startswith("ringcast could not place the call: ") for a in parked
    )
    # ended when dialled, not when the two-hour lease ran out (the other campaign's
    # simulated calls move the virtual clock on by their length meanwhile)
    assert all(a.ended_at is not None and a.ended_at < T0 + timedelta(minutes=30) for a in parked)
    assert (
        dispatcher.metrics.registry.get_sample_value(ATTEMPTS, {"outcome": "internal_error"}) == 3
    )
    ended = attempts(store, good)
    assert len(ended) == 2 and Outcome.IN_PROGRESS not in {a.outcome for a in ended}


class Poisoned:
    """A store whose ends go through as given, except for the attempts in ``poisoned``:
    for those the retry policy raises (``finish_raises``) or the store refuses the write
    whatever it is asked (``refused``). It counts every ``end_attempts`` call per attempt,
    and every ``run_tick`` per campaign, raising in those of ``bad_campaigns``."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.finish_raises: set[str] = set()
        self.refused: set[str] = set()
        self.bad_campaigns: set[str] = set()
        self.ends: Counter[str] = Counter()
        self.ticks: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def end_attempts(self, ends: Sequence[tuple[CallResult, Finish]]) -> list[Any]:
        self.ends.update(r.attempt_id for r, _ in ends)
        if any(r.attempt_id in self.refused for r, _ in ends):
            raise ValueError("a value this database cannot take")
        given = [
            (r, _raising if r.attempt_id in self.finish_raises and _is_finish(f) else f)
            for r, f in ends
        ]
        return self.store.end_attempts(given)

    def run_tick(self, campaign_id: str, *args: Any, **kw: Any) -> Any:
        self.ticks[campaign_id] += 1
        if campaign_id in self.bad_campaigns:
            raise ArithmeticError("a rule that cannot be applied to this campaign")
        return self.store.run_tick(campaign_id, *args, **kw)


def _is_finish(f: Finish) -> bool:
    """Whether ``f`` applies the retry policy (``core.step.finish``)."""
    return isinstance(f, functools.partial) and f.func is tick.finish


def _raising(*_args: Any) -> tuple[Contact, Attempt]:
    raise OverflowError("date value out of range")


def dialled(store: Any, n: int, **over: Any) -> tuple[Poisoned, Campaign, list[str]]:
    """``n`` attempts dialled through a gateway that never reports: each waits in a call."""
    c = make_campaign(store, n, **over)
    dispatcher = Dispatcher(store, VirtualClock(T0), RaisesFor(set()), DispatchSettings())
    asyncio.run(dispatcher.step())
    ids = [a.id for a in attempts(store, c)]
    assert len(ids) == n
    return Poisoned(store), c, ids


def test_an_end_whose_retry_rule_raises_is_recorded_as_an_internal_error(store) -> None:
    """Among ends reported together, the one whose retry policy raises is recorded at once
    as ``internal_error`` with a reason naming what was reported, its contact final; the
    others are recorded as reported."""
    watched, c, ids = dialled(store, 3)
    watched.finish_raises = {ids[1]}
    dispatcher = Dispatcher(watched, VirtualClock(T0 + timedelta(minutes=1)))

    async def scenario() -> None:
        await asyncio.gather(
            *(
                dispatcher.report(CallResult(i, Outcome.NO_ANSWER, T0 + timedelta(seconds=30)))
                for i in ids
            )
        )

    asyncio.run(scenario())
    by_id = {a.id: a for a in attempts(store, c)}
    poisoned = by_id.pop(ids[1])
    assert poisoned.outcome is Outcome.INTERNAL_ERROR
    assert poisoned.failure_reason == (
        "ringcast could not record this call's end as reported (outcome no_answer): OverflowError"
    )
    assert poisoned.ended_at == T0 + timedelta(minutes=1)
    assert store.get_contact(poisoned.contact_id).state is ContactState.EXHAUSTED
    assert {a.outcome for a in by_id.values()} == {Outcome.NO_ANSWER}
    assert {store.get_contact(a.contact_id).state for a in by_id.values()} == {ContactState.WAITING}


def test_a_retry_delay_beyond_the_bounds_stored_earlier_is_clamped_not_overflowed(store) -> None:
    """A campaign stored with a retry delay of 70,000,000 hours (before delays were
    bounded) ends its call normally: the retry waits at most ``MAX_RETRY_INTERVAL``."""
    huge = RetryPolicy(
        max_retries=3,
        intervals=(timedelta(hours=70_000_000),),
        rules=(RetryRule("retry", frozenset({Outcome.NO_ANSWER})),),
    )
    _, c, (attempt_id,) = dialled(store, 1, retry=huge)
    dispatcher = Dispatcher(store, VirtualClock(T0))
    asyncio.run(dispatcher.report(CallResult(attempt_id, Outcome.NO_ANSWER, T0)))
    (attempt,) = attempts(store, c)
    assert attempt.outcome is Outcome.NO_ANSWER and attempt.retry_rule == "retry"
    contact = store.get_contact(attempt.contact_id)
    assert contact.state is ContactState.WAITING
    assert contact.next_due_at is not None
    assert T0 + MAX_RETRY_INTERVAL <= contact.next_due_at <= T0 + MAX_RETRY_INTERVAL * 2


def passes(dispatcher: Dispatcher[Any], clock: VirtualClock, span: timedelta) -> int:
    """Run the dispatcher's passes every second of virtual time for ``span`` (a busy
    dispatcher's rate: an idle one passes every 200 ms)."""
    count = 0

    async def run() -> None:
        nonlocal count
        end = clock.now() + span
        while clock.now() < end:
            await dispatcher.step()
            await dispatcher.drain()
            count += 1
            clock.advance(timedelta(seconds=1))

    asyncio.run(run())
    return count


def test_the_reconciler_ends_an_attempt_whose_end_raises_in_one_try(store) -> None:
    """An expired attempt whose retry policy raises is ended by the reconciler on its first
    try, as ``internal_error``, and never asked about again."""
    watched, c, ids = dialled(store, 2)
    watched.finish_raises = {ids[0]}
    clock = VirtualClock(T0 + LEASE + timedelta(hours=2))
    dispatcher = Dispatcher(watched, clock, RaisesFor(set()), DispatchSettings(call_lease=LEASE))
    passes(dispatcher, clock, timedelta(minutes=1))
    # the end as reported, then as an internal error
    assert watched.ends[ids[0]] == 2
    assert watched.ends[ids[1]] == 1
    assert {a.outcome for a in attempts(store, c)} == {Outcome.INTERNAL_ERROR}
    assert {store.get_contact(a.contact_id).state for a in attempts(store, c)} == {
        ContactState.EXHAUSTED
    }


def test_the_reconciler_backs_off_an_attempt_it_cannot_end_and_ends_the_others(store) -> None:
    """An expired attempt whose end the store refuses every time is tried again with a
    doubling backoff, not on every pass: over ten minutes of passes (600) its end is
    attempted ten times; the other expired attempts end on the first pass."""
    watched, c, ids = dialled(store, 3)
    watched.refused = {ids[0]}
    clock = VirtualClock(T0 + LEASE + timedelta(hours=2))
    dispatcher = Dispatcher(watched, clock, RaisesFor(set()), DispatchSettings(call_lease=LEASE))
    count = passes(dispatcher, clock, timedelta(minutes=10))
    assert count == 600
    # 1 s, 2 s, 4 s ... 512 s: ten tries, each the end as reported then as an internal error
    tries = watched.ends[ids[0]] // 2
    assert 8 <= tries <= 11, watched.ends
    assert dispatcher.held_attempts.failures(ids[0]) == tries
    assert watched.ends[ids[1]] == watched.ends[ids[2]] == 1
    by_id = {a.id: a for a in attempts(store, c)}
    assert by_id[ids[0]].outcome is Outcome.IN_PROGRESS
    assert by_id[ids[1]].outcome is by_id[ids[2]].outcome is Outcome.INTERNAL_ERROR


def test_a_campaign_whose_planning_raises_is_held_back_and_the_others_planned(store) -> None:
    """A campaign whose planning raises an unexpected error is planned again only after a
    doubling backoff, while another due campaign is planned and dialled on the first
    pass; the loop goes on."""
    bad = make_campaign(store, 2)
    good = make_campaign(store, 2)
    watched = Poisoned(store)
    watched.bad_campaigns = {bad.id}
    clock = VirtualClock(T0)
    gateway = RaisesFor(set())
    dispatcher = Dispatcher(watched, clock, gateway, DispatchSettings())
    passes(dispatcher, clock, timedelta(minutes=1))
    assert 5 <= watched.ticks[bad.id] <= 7, watched.ticks  # 1, 2, 4, 8, 16, 32 s
    assert len(attempts(store, good)) == 2 and len(gateway.placed) == 2
    assert attempts(store, bad) == []


def test_only_an_unreachable_database_is_retried_by_store_calls() -> None:
    """A store call refused for what it asked (a value the column cannot hold) raises at
    once instead of being retried for ever, blocking every end queued behind it; one that
    found the database away is retried until it answers."""
    calls: list[str] = []

    def refused() -> None:
        calls.append("refused")
        raise DataError("INSERT ...", {}, ValueError("integer out of range"))

    outages = [OperationalError("SELECT 1", {}, ConnectionError("database away"))] * 2

    def away_twice() -> str:
        calls.append("away")
        if outages:
            raise outages.pop()
        return "answered"

    with pytest.raises(DataError):
        asyncio.run(storecalls.call_retrying(refused, offload=False, max_backoff=timedelta(0)))
    assert calls == ["refused"]
    got = asyncio.run(storecalls.call_retrying(away_twice, offload=False, max_backoff=timedelta(0)))
    assert got == "answered" and calls == ["refused", "away", "away", "away"]
