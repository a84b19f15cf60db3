"""Compliance at dial time, on the memory, SQLite and PostgreSQL stores alike: zones from
numbers, the cap across campaigns, the refusal cooldown, the do-not-call list, and the
pre-dial hook."""

from __future__ import annotations

import asyncio
import time as wall
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest
import standardwebhooks

from ringcast.clock import VirtualClock
from ringcast.core import step as tick
from ringcast.core.compliance import (
    DO_NOT_CALL,
    FREQUENCY_CAP,
    HOLIDAY,
    OUTSIDE_LOCAL_HOURS,
    PREDIAL_REFUSED,
    REFUSAL_COOLDOWN,
    UNKNOWN_TIMEZONE,
)
from ringcast.core.model import CampaignConfig, ContactState, PredialHook, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule
from ringcast.core.states import CampaignStatus
from ringcast.core.step import CallResult
from ringcast.core.windows import WHOLE_DAY, WeeklyWindow
from ringcast.dispatch.loop import Dispatcher
from ringcast.dispatch.predial import PredialClient
from ringcast.gateways.base import Accepted, CallGateway, DialRequest
from tests.integration.factories import campaign, contacts, seed_account
from tests.support import answer, serving

HORIZON = timedelta(seconds=1)
# Tuesday 2 June 2026, 09:00 UTC = 11:00 in Paris, 05:00 in New York
T = datetime(2026, 6, 2, 9, tzinfo=UTC)


def always_open(store, policy: str | None, org=None, **retry):
    org_id, ws_id, agent_id = org or seed_account(store)
    config = CampaignConfig(
        "",
        CampaignStatus.SCHEDULED,
        Schedule(WeeklyWindow("UTC", (WHOLE_DAY,))),
        PacingLimits(attempts_per_second=50),
        RetryPolicy(
            max_retries=retry.get("max_retries", 5),
            intervals=(timedelta(minutes=10),),
            rules=(RetryRule("retry", frozenset({Outcome.NO_ANSWER})),),
        ),
        policy=policy,
    )
    c = campaign(org_id, ws_id, agent_id)
    return replace(c, config=replace(config, id=c.id)), (org_id, ws_id, agent_id)


def run(store, c, now):
    return store.run_tick(
        c.id, now, HORIZON, 100, lambda snap, v: tick.decide(snap, now, HORIZON, v)
    )


def end(store, attempt_id, outcome, at, qualifiers=frozenset()):
    result = CallResult(attempt_id, outcome, at, qualifiers=frozenset(qualifiers))
    return store.end_attempt(result, tick.finisher(result))


def state_of(store, contact_id):
    k = store.get_contact(contact_id)
    return k.state, k.reason, k.next_due_at


def test_hours_are_the_contacts_and_a_multi_zone_number_needs_every_zone(store) -> None:
    """Calling hours are the contact's local ones, and a number spanning several zones is dialled
    only while every zone is open."""
    c, _ = always_open(store, "us")
    new_york, toll_free, florida = (
        replace(k, phone=p)
        for k, p in zip(
            contacts(c.id, 3, due_at=T),
            ["+12125550123", "+18005550123", "+13055550123"],
            strict=True,
        )
    )
    store.create_campaign(c, [new_york, toll_free, florida])
    assert run(store, c, T).dials == ()  # 05:00 in New York
    for k in (new_york, toll_free, florida):
        state, reason, _ = state_of(store, k.id)
        assert state is ContactState.WAITING and reason == OUTSIDE_LOCAL_HOURS
    # New York opens at 08:00 EDT = 12:00 UTC; the toll-free number also reaches Hawaii
    # and Guam, whose hours never overlap with the US East Coast's 08-21 all at once.
    assert state_of(store, new_york.id)[2] == datetime(2026, 6, 2, 12, tzinfo=UTC)
    at_noon = datetime(2026, 6, 2, 12, tzinfo=UTC)
    dialled = {d.contact.id for d in run(store, c, at_noon).dials}
    assert new_york.id in dialled and florida.id in dialled and toll_free.id not in dialled
    # Florida stops at 20:00 local, the rest of the US at 21:00
    c2, _ = always_open(store, "us")
    late = [
        replace(k, phone=p)
        for k, p in zip(contacts(c2.id, 2, due_at=T), ["+13055550124", "+12125550124"], strict=True)
    ]
    store.create_campaign(c2, late)
    evening = datetime(2026, 6, 3, 0, 30, tzinfo=UTC)  # 20:30 EDT
    got = {d.contact.phone for d in run(store, c2, evening).dials}
    assert got == {"+12125550124"}


def test_an_unknown_zone_is_never_dialled_until_someone_gives_one(store) -> None:
    """A number whose zone cannot be found waits with no due moment until someone sets its zone, and
    is then dialled."""
    c, _ = always_open(store, "fr")
    unknown = replace(contacts(c.id, 1, due_at=T)[0], phone="+882341234567")
    store.create_campaign(c, [unknown])
    for hours in (0, 1, 30, 200):
        assert run(store, c, T + timedelta(hours=hours)).dials == ()
    assert state_of(store, unknown.id) == (ContactState.WAITING, UNKNOWN_TIMEZONE, None)
    store.set_contact_zone(unknown.id, "Europe/Paris", T + timedelta(days=9))
    assert c.id in store.campaigns_to_plan(T + timedelta(days=9), 10)
    dials = run(store, c, T + timedelta(days=9)).dials  # Thursday 11:00 in Paris
    assert [d.contact.id for d in dials] == [unknown.id]


def test_a_french_holiday_holds_calls_to_french_numbers(store) -> None:
    """A French public holiday defers calls to French numbers to the next working morning."""
    c, _ = always_open(store, "fr")
    ascension = datetime(2026, 5, 14, 9, tzinfo=UTC)  # Thursday 11:00 in Paris
    k = replace(contacts(c.id, 1, due_at=ascension)[0], phone="+33612345678")
    store.create_campaign(c, [k])
    assert run(store, c, ascension).dials == ()
    _, reason, until = state_of(store, k.id)
    assert reason == HOLIDAY and until == datetime(2026, 5, 15, 8, tzinfo=UTC)  # Fri 10:00


def test_four_attempts_in_30_days_across_two_campaigns(store) -> None:
    """A number gets at most four attempts in 30 days across an organization's campaigns, then waits
    until the first one is 30 days old."""
    first, org = always_open(store, "fr")
    second, _ = always_open(store, "fr", org=org)
    shared = "+33612345678"
    a = replace(contacts(first.id, 1, due_at=T)[0], phone=shared)
    b = replace(contacts(second.id, 1, due_at=T)[0], phone=shared)
    store.create_campaign(first, [a])
    store.create_campaign(second, [b])
    at, dial_moments = T, []
    for _ in range(3):  # three attempts by the first campaign, no answer each time
        (d,) = run(store, first, at).dials
        dial_moments.append(d.dial_at)
        end(store, d.attempt.id, Outcome.NO_ANSWER, at + timedelta(seconds=30))
        at += timedelta(minutes=20)
    (d,) = run(store, second, at).dials  # the fourth, by the other campaign
    end(store, d.attempt.id, Outcome.NO_ANSWER, at + timedelta(seconds=30))
    dial_moments.append(d.dial_at)
    at += timedelta(minutes=20)
    assert run(store, first, at).dials == ()  # a fifth would break the cap
    state, reason, until = state_of(store, a.id)
    assert reason == FREQUENCY_CAP and state is ContactState.WAITING
    # the cap frees a place 30 days after the first attempt: 2 July, a Thursday, 11:00 Paris
    assert until == dial_moments[0] + timedelta(days=30)
    assert len(run(store, first, until).dials) == 1


def test_no_attempt_for_60_days_after_a_refusal(store) -> None:
    """After a refusal no campaign of the organization dials the number for at least 60 days."""
    first, org = always_open(store, "fr")
    second, _ = always_open(store, "fr", org=org)
    phone = "+33612345679"
    a = replace(contacts(first.id, 1, due_at=T)[0], phone=phone)
    store.create_campaign(first, [a])
    (d,) = run(store, first, T).dials
    end(store, d.attempt.id, Outcome.COMPLETED, T + timedelta(minutes=2), {"refused"})
    b = replace(contacts(second.id, 1, due_at=T + timedelta(days=1))[0], phone=phone)
    store.create_campaign(second, [b])
    assert run(store, second, T + timedelta(days=1)).dials == ()
    _, reason, until = state_of(store, b.id)
    assert reason == REFUSAL_COOLDOWN
    assert until >= T + timedelta(minutes=2) + timedelta(days=60)
    assert until - (T + timedelta(minutes=2) + timedelta(days=60)) < timedelta(days=4)


def test_a_number_listed_mid_campaign_is_never_dialled_again(store) -> None:
    """A number put on the do-not-call list mid-campaign is skipped; the other contacts carry on."""
    c, (org_id, _, _) = always_open(store, None)  # do-not-call applies under every policy
    people = contacts(c.id, 3, due_at=T)
    store.create_campaign(c, people)
    dials = run(store, c, T).dials
    assert len(dials) == 3
    for d in dials:
        end(store, d.attempt.id, Outcome.NO_ANSWER, T + timedelta(minutes=1))
    store.add_do_not_call(org_id, [people[0].phone], "api", T + timedelta(minutes=2))
    later = T + timedelta(minutes=15)
    dialled = {d.contact.id for d in run(store, c, later).dials}
    assert dialled == {people[1].id, people[2].id}
    assert state_of(store, people[0].id)[:2] == (ContactState.SKIPPED, DO_NOT_CALL)


def test_an_opt_out_lists_the_raw_number_whatever_the_label(store) -> None:
    """A call ending with an opt-out qualifier, even one labelled answered, lists the number so that
    other campaigns skip it."""
    c, org = always_open(store, None)
    other, _ = always_open(store, None, org=org)
    k = contacts(c.id, 1, due_at=T)[0]
    store.create_campaign(c, [k])
    (d,) = run(store, c, T).dials
    # the call is labelled "answered" with an opt-out qualifier in any case
    end(store, d.attempt.id, Outcome.COMPLETED, T + timedelta(minutes=1), {"DO_NOT_CALL"})
    again = replace(contacts(other.id, 1, due_at=T + timedelta(hours=1))[0], phone=k.phone)
    store.create_campaign(other, [again])
    assert run(store, other, T + timedelta(hours=1)).dials == ()
    assert state_of(store, again.id)[:2] == (ContactState.SKIPPED, DO_NOT_CALL)


# --- the pre-dial hook ------------------------------------------------------------------
class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Hook.received.append((dict(self.headers.items()), body))
        if self.path == "/slow":
            wall.sleep(0.6)
        status, body = {
            "/yes": (200, b"true"),
            "/eligible": (200, b'{"eligible": true}'),
            "/no": (200, b"false"),
            "/error": (500, b"oops"),
            "/slow": (200, b"true"),
        }[self.path]
        answer(self, status, body)  # the slow one comes after ringcast stopped waiting

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hook_url() -> Iterator[str]:
    with serving(Hook) as url:
        yield url


class CountingGateway(CallGateway):
    """Stands in for a carrier: counts the calls it is asked to place."""

    supports_idempotency = True

    def __init__(self) -> None:
        self.placed: list[str] = []

    async def place_call(self, request: DialRequest) -> Accepted:
        self.placed.append(request.attempt_id)
        return Accepted(f"gw-{request.attempt_id}")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/yes", True), ("/eligible", True), ("/no", False), ("/error", False), ("/slow", False)],
)
def test_the_pre_dial_hook_decides(store, hook_url: str, path: str, allowed: bool) -> None:
    """The pre-dial hook is asked with a signed request, and only a timely yes places the call;
    anything else defers the contact 15 minutes and leaves no attempt."""
    c, _ = always_open(store, None)
    c = replace(
        c,
        config=replace(
            c.config, predial=PredialHook(hook_url + path, timeout=timedelta(milliseconds=300))
        ),
    )
    k = contacts(c.id, 1, due_at=T)[0]
    store.create_campaign(c, [k])
    clock = VirtualClock(T)
    gateway = CountingGateway()
    dispatcher = Dispatcher(store, clock, gateway, predial=PredialClient(allow_private=True))

    async def one_pass() -> None:
        await dispatcher.step()
        await dispatcher.drain()

    asyncio.run(one_pass())
    # the question is signed with the organization's webhook secret (Standard Webhooks)
    headers, body = Hook.received[-1]
    secret = store.signing_secret(c.org_id, lambda: "never made twice")
    asked = standardwebhooks.Webhook(secret).verify(body, headers)
    assert asked["attempt_id"] == headers["webhook-id"].removeprefix("predial-")
    assert asked["contact_id"] == k.id and asked["phone"] == k.phone
    if allowed:
        assert len(gateway.placed) == 1
        assert store.get_contact(k.id).state is ContactState.DIALING
    else:
        assert gateway.placed == []
        state, reason, until = state_of(store, k.id)
        assert (state, reason) == (ContactState.WAITING, PREDIAL_REFUSED)
        assert until == T + timedelta(minutes=15)
        assert store.attempts_of(k.id) == []  # no call was placed, so no attempt remains
        assert store.get_contact(k.id).attempts == 0
