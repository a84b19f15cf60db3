"""Connections: limits shared by every campaign that dials through them, on every store."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import time, timedelta
from itertools import pairwise

from ringcast.core import step as tick
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.core.step import CallResult
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.records import Connection
from tests.integration.factories import T0, campaign, contacts, seed_account

HORIZON = timedelta(milliseconds=500)


def line(org_id, connection_id, aps=None, concurrent=None, numbers=()):
    return Connection(
        org_id, connection_id, connection_id, "simulator", {}, numbers, aps, concurrent, T0, T0
    )


def routed_campaign(store, org, ws, agent, routes, n, **pacing):
    config = CampaignConfig(
        id="",
        status=CampaignStatus.SCHEDULED,
        schedule=Schedule(WeeklyWindow("UTC", (Slot(time(0), time(23, 59)),))),
        pacing=PacingLimits(**pacing),
        retry=RetryPolicy(),
        routes=tuple(routes),
    )
    c = campaign(org, ws, agent)
    c = replace(c, config=replace(config, id=c.id))
    people = contacts(c.id, n)
    people = [replace(p, phone=f"+3361{i:07d}{len(routes)}{n}") for i, p in enumerate(people)]
    store.create_campaign(c, people)
    return c


def plan_at(store, c, now):
    writes = store.run_tick(
        c.id, now, HORIZON, 500, lambda snap, v: tick.decide(snap, now, HORIZON, v)
    )
    return writes.dials if writes is not None else ()


def test_two_campaigns_share_one_connections_rate(store) -> None:
    """Each campaign may dial 10/s, but their shared connection allows 4/s: together they
    never place more than 4 calls in any second, and they take turns on it."""
    org, ws, agent = seed_account(store)
    assert store.put_connection(line(org, "trunk-a", aps=4)) is True
    first, second = (
        routed_campaign(
            store, org, ws, agent, [Route("trunk-a", ("+33100000001",))], 20, attempts_per_second=10
        )
        for _ in range(2)
    )
    dialled = []
    now = T0
    while now < T0 + timedelta(seconds=3):  # passes as the dispatcher makes them
        for campaign_id in store.campaigns_to_plan(now, 10):
            dialled += plan_at(store, first if campaign_id == first.id else second, now)
        now += timedelta(milliseconds=50)
    per_second = Counter(d.dial_at.replace(microsecond=0) for d in dialled)
    assert per_second and max(per_second.values()) <= 4
    assert sum(per_second.values()) >= 10  # the connection's rate is used, not starved
    by_campaign = Counter(d.attempt.campaign_id for d in dialled)
    # they take turns: neither campaign's place in the pass order starves the other
    assert min(by_campaign[first.id], by_campaign[second.id]) >= len(dialled) // 3
    slots = sorted(d.dial_at for d in dialled)
    assert all(b - a >= timedelta(milliseconds=250) for a, b in pairwise(slots))
    assert {d.attempt.connection_id for d in dialled} == {"trunk-a"}


def test_a_full_connection_holds_dials_until_a_call_ends(store) -> None:
    """Two calls at once on the connection, across campaigns; a third waits for an end,
    and its contact stays due (nothing dropped), then goes out once a place frees."""
    org, ws, agent = seed_account(store)
    store.put_connection(line(org, "trunk-b", concurrent=2))
    first = routed_campaign(store, org, ws, agent, [Route("trunk-b", ())], 3)
    second = routed_campaign(store, org, ws, agent, [Route("trunk-b", ())], 3)
    placed = list(plan_at(store, first, T0))
    assert len(placed) == 2
    assert plan_at(store, second, T0) == ()
    # the held campaign looks again soon, not at once and not never
    assert second.id not in store.campaigns_to_plan(T0, 10)
    assert second.id in store.campaigns_to_plan(T0 + timedelta(seconds=1), 10)
    result = CallResult(placed[0].attempt.id, Outcome.COMPLETED, T0 + timedelta(seconds=5))
    store.end_attempt(result, tick.finisher(result))
    later = plan_at(store, second, T0 + timedelta(seconds=6))
    assert len(later) == 1 and later[0].attempt.connection_id == "trunk-b"
    waiting = store.count_contacts(second.id)
    assert sum(waiting.values()) == 3


def test_full_connection_sends_dials_to_another_route(store) -> None:
    """With one route's connection full, its share goes to the other route; caller
    numbers come from the connection when the campaign's route names none."""
    org, ws, agent = seed_account(store)
    store.put_connection(line(org, "busy", concurrent=0))
    store.put_connection(line(org, "spare", numbers=("+33199999999",)))
    c = routed_campaign(
        store, org, ws, agent, [Route("busy", ("+33100000000",), 3), Route("spare", (), 1)], 6
    )
    dialled = plan_at(store, c, T0)
    assert len(dialled) == 6
    assert {d.attempt.connection_id for d in dialled} == {"spare"}
    assert {d.attempt.caller_number for d in dialled} == {"+33199999999"}


def test_unregistered_connections_have_no_limits_and_connections_are_listed(store) -> None:
    """A route to an unregistered connection dials without limits, and registered connections are
    stored, replaced, listed and removed per organization."""
    org, ws, agent = seed_account(store)
    long_id = "nobody-registered-me-" + "x" * 79  # ids are the customer's, up to 100 chars
    c = routed_campaign(store, org, ws, agent, [Route(long_id, ())], 5)
    assert len(plan_at(store, c, T0)) == 5
    assert {a.connection_id for a in store.campaign_attempts(c.id)} == {long_id}
    assert store.put_connection(line(org, "z", aps=2)) is True
    assert store.put_connection(line(org, "z", aps=3)) is False
    assert store.get_connection(org, "z").max_attempts_per_second == 3
    assert [x.id for x in store.list_connections(org)] == ["z"]
    other_org, _, _ = seed_account(store)
    assert store.get_connection(other_org, "z") is None
    assert store.remove_connection(org, "z") is True
    assert store.list_connections(org) == []


def test_a_withdrawn_attempt_gives_its_connection_place_back(store) -> None:
    """The pre-dial hook said not now: no call was placed, so the place is free again."""
    org, ws, agent = seed_account(store)
    store.put_connection(line(org, "single", concurrent=1))
    c = routed_campaign(store, org, ws, agent, [Route("single", ())], 2)
    (first,) = plan_at(store, c, T0)
    assert plan_at(store, c, T0 + timedelta(seconds=1)) == ()  # the connection is full
    assert store.withdraw_attempt(first.attempt.id, T0 + timedelta(hours=1), "predial_refused")
    (second,) = plan_at(store, c, T0 + timedelta(seconds=2))
    assert second.contact.id != first.contact.id and second.attempt.connection_id == "single"
