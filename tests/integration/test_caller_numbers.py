"""Caller numbers on a registered connection: capped per UTC hour across campaigns and
workers, kept by each contact while available, stored like the connection's counters."""

from __future__ import annotations

import threading
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ringcast.core import callers
from ringcast.core import step as tick
from ringcast.core.callers import CallerCaps, hour_of
from ringcast.core.model import Attempt, CampaignConfig, Contact, ContactState, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.core.step import CallResult, Dial
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.db import tables as t
from ringcast.db.memory import MemoryStore
from ringcast.db.store import SqlStore
from ringcast.records import Agent, AgentType, Campaign, Connection, Dialect
from tests.integration.factories import T0

CALLERS = ("+33100000001", "+33100000002", "+33100000003")
PER_HOUR = 2
HORIZON = timedelta(milliseconds=500)
STEP = timedelta(minutes=5)


def seed(store: Any, tag: str = "") -> tuple[str, str, str]:
    """An organization, its workspace and agent, with ids fixed by ``tag`` (so that two
    stores given the same tag draw the same caller numbers)."""
    org = store.ensure_organization(f"org{tag}", f"org{tag}", T0).id
    ws = store.ensure_workspace(f"ws{tag}", org, "default", T0).id
    agent = Agent(f"agent{tag}", org, "A", AgentType.OUTBOUND, T0, variables=("name",))
    store.add_agent(agent)
    return org, ws, agent.id


def capped_trunk(org_id: str, **settings: Any) -> Connection:
    return Connection(
        org_id,
        "trunk",
        "trunk",
        "simulator",
        {"caller_number_max_per_hour": PER_HOUR, **settings},
        CALLERS,
        None,
        None,
        T0,
        T0,
    )


def retrying_campaign(
    store: Any, org: str, ws: str, agent: str, name: str, n: int, series: int
) -> Campaign:
    """``n`` contacts (mobile numbers of the ``series``), open all day, each tried three
    times an hour apart if unanswered, dialling through the capped trunk with the trunk's
    own caller numbers."""
    config = CampaignConfig(
        id=name,
        status=CampaignStatus.SCHEDULED,
        schedule=Schedule(WeeklyWindow("UTC", (Slot(time(0), time(23, 59)),))),
        pacing=PacingLimits(),
        retry=RetryPolicy(
            max_retries=2,
            intervals=(timedelta(hours=1),),
            rules=(RetryRule("retry", frozenset({Outcome.NO_ANSWER})),),
        ),
        routes=(Route("trunk", ()),),
    )
    campaign = Campaign(config, org, ws, name, agent, Dialect.NATIVE, T0, T0)
    people = [
        Contact(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{i}")),
            campaign_id=name,
            phone=f"+336{series}{i:07d}",
            next_due_at=T0,
            context={"name": f"P{i}"},
        )
        for i in range(n)
    ]
    store.create_campaign(campaign, people)
    return campaign


def plan(store: Any, campaign_id: str, now: datetime) -> tuple[Dial, ...]:
    """One planning step, as the dispatcher takes it; nobody answers the calls it places."""
    writes = store.run_tick(
        campaign_id, now, HORIZON, 500, lambda snap, v: tick.decide(snap, now, HORIZON, v)
    )
    dials = writes.dials if writes is not None else ()
    for d in dials:
        result = CallResult(d.attempt.id, Outcome.NO_ANSWER, d.dial_at + timedelta(seconds=20))
        store.end_attempt(result, tick.finisher(result))
    return dials


def run_until(store: Any, campaigns: list[Campaign], until: datetime) -> list[Attempt]:
    """Plan every few minutes as a dispatcher would, until ``until``; every attempt made,
    in dial order."""
    now = T0
    while now < until:
        for campaign_id in store.campaigns_to_plan(now, 10):
            plan(store, campaign_id, now)
        now += STEP
    attempts = [a for c in campaigns for a in store.campaign_attempts(c.id)]
    return sorted(attempts, key=lambda a: (a.dialed_at, a.id))


def test_caller_numbers_are_capped_per_hour_kept_per_contact_and_shared(store) -> None:
    """With 2 dials per number per UTC hour and 3 numbers, two campaigns of 20 on one
    connection share the 6 dials an hour (a second campaign finds the hour taken), never
    exceed 2 per number per hour between them, and a contact is shown another number only
    in an hour when its own was full."""
    org, ws, agent = seed(store)
    store.put_connection(capped_trunk(org))
    first = retrying_campaign(store, org, ws, agent, "first", 20, 1)
    second = retrying_campaign(store, org, ws, agent, "second", 20, 2)
    assert len(plan(store, first.id, T0)) == len(CALLERS) * PER_HOUR
    assert plan(store, second.id, T0) == ()  # the caps are the connection's, not per campaign
    next_hour = T0 + timedelta(hours=1)
    assert second.id not in store.campaigns_to_plan(next_hour - timedelta(seconds=1), 10)
    assert second.id in store.campaigns_to_plan(next_hour, 10)
    attempts = run_until(store, [first, second], T0 + timedelta(hours=24))

    for c in (first, second):
        assert store.count_contacts(c.id) == {ContactState.EXHAUSTED: 20}
    assert len(attempts) == 2 * 20 * 3
    per_hour = Counter((a.caller_number, hour_of(a.dialed_at)) for a in attempts)
    assert max(per_hour.values()) == PER_HOUR  # the cap holds, and it is what paces them
    for c in (first, second):
        assert {a.caller_number for a in attempts if a.campaign_id == c.id} == set(CALLERS)

    contacts = {k.id: k for c in (first, second) for k in store.campaign_contacts(c.id)}
    kept = 0
    for contact_id, mine in _by_contact(attempts).items():
        k = contacts[contact_id]
        own = callers.pick(CALLERS, k.id, k.phone, CallerCaps(), {}, T0)
        for a in mine:
            if a.caller_number != own:  # its own number was full in that hour
                assert per_hour[(own, hour_of(a.dialed_at))] == PER_HOUR, (k.id, a.number)
        kept += all(a.caller_number == own for a in mine)
    assert kept >= 10  # many contacts keep their number across their three attempts


def test_the_stores_record_the_same_caller_numbers(engine) -> None:
    """The in-memory store (the forecast's) and the SQL store place the very same dials
    with the very same caller numbers under the caps."""
    runs = []
    for store in (MemoryStore(), SqlStore(engine)):
        org, ws, agent = seed(store, "-same")
        store.put_connection(capped_trunk(org, caller_number_max_per_day=5))
        campaigns = [
            retrying_campaign(store, org, ws, agent, name, 12, series)
            for series, name in enumerate(("c1", "c2"))
        ]
        runs.append(
            [
                (a.id, a.dialed_at, a.caller_number, a.connection_id)
                for a in run_until(store, campaigns, T0 + timedelta(hours=30))
            ]
        )
    memory, sql = runs
    assert memory == sql
    per_day = Counter((caller, at.date()) for _, at, caller, _ in sql)
    assert max(per_day.values()) == 5  # the daily cap holds too


def test_usage_is_stored_per_connection_and_number_and_goes_with_the_connection(engine) -> None:
    """The usage rows are what the core booked, one per (organization, connection, number),
    and removing the connection removes them."""
    store = SqlStore(engine)
    org, ws, agent = seed(store)
    store.put_connection(capped_trunk(org))
    campaign = retrying_campaign(store, org, ws, agent, "only", 4, 0)
    writes = store.run_tick(
        campaign.id, T0, HORIZON, 500, lambda snap, v: tick.decide(snap, T0, HORIZON, v)
    )
    assert writes is not None and len(writes.dials) == 4
    u = t.caller_number_usage
    with engine.connect() as conn:
        rows = conn.execute(sa.select(u).order_by(u.c.number)).all()
    assert {(r.org_id, r.connection_id) for r in rows} == {(org, "trunk")}
    assert {r.number: (r.hour_start, r.in_hour, r.in_day) for r in rows} == {
        n: (usage.hour, usage.in_hour, usage.in_day) for (_, n), usage in writes.callers.items()
    }
    assert sum(r.in_hour for r in rows) == 4 and all(r.in_hour <= PER_HOUR for r in rows)
    # replacing the connection keeps its usage, like its counters
    store.put_connection(replace(capped_trunk(org), name="renamed"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(u)).scalar_one() == len(rows)
    assert store.remove_connection(org, "trunk") is True
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(u)).scalar_one() == 0


def _by_contact(attempts: list[Attempt]) -> dict[str, list[Attempt]]:
    out: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        out[a.contact_id].append(a)
    return out


@pytest.mark.postgres
def test_two_workers_planning_at_once_share_the_caps(pg_engine: sa.Engine) -> None:
    """Two workers (two stores, two threads) planning two campaigns on one connection at
    the same instant, hour after hour, give out 6 dials an hour between them, 2 per number:
    the connection's row lock covers its numbers' usage."""
    setup = SqlStore(pg_engine)
    org, ws, agent = seed(setup)
    setup.put_connection(capped_trunk(org))
    campaigns = [retrying_campaign(setup, org, ws, agent, f"w{i}", 20, i) for i in range(2)]
    workers = [SqlStore(pg_engine) for _ in campaigns]
    for hour in range(4):
        at = T0 + timedelta(hours=hour)
        start = threading.Barrier(len(workers))

        def work(store: SqlStore, campaign_id: str, at: datetime = at, start: Any = start) -> int:
            start.wait()
            return len(plan(store, campaign_id, at))

        with ThreadPoolExecutor(len(workers)) as pool:
            placed = list(pool.map(work, workers, [c.id for c in campaigns]))
        assert sum(placed) == len(CALLERS) * PER_HOUR, (hour, placed)
    attempts = [a for c in campaigns for a in setup.campaign_attempts(c.id)]
    per_hour = Counter((a.caller_number, hour_of(a.dialed_at)) for a in attempts)
    assert len(per_hour) == 4 * len(CALLERS) and set(per_hour.values()) == {PER_HOUR}
