"""Dispatch transactions, on the memory, SQLite and PostgreSQL stores alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

import pytest

from ringcast.core import step as tick
from ringcast.core.model import CampaignConfig, ContactState, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule
from ringcast.core.states import CampaignStatus
from ringcast.core.step import CallResult
from ringcast.core.windows import Slot, WeeklyWindow
from tests.integration.factories import T0, campaign, contacts, seed_account

HORIZON = timedelta(seconds=1)
SEC = timedelta(seconds=1)


def open_campaign(store, **pacing):
    org_id, ws_id, agent_id = seed_account(store)
    config = CampaignConfig(
        id="",
        status=CampaignStatus.SCHEDULED,
        schedule=Schedule(WeeklyWindow("UTC", (Slot(time(0), time(23, 59)),))),
        pacing=PacingLimits(**pacing),
        retry=RetryPolicy(
            max_retries=1,
            intervals=(timedelta(minutes=5),),
            rules=(RetryRule("retry", frozenset({Outcome.NO_ANSWER})),),
        ),
    )
    c = campaign(org_id, ws_id, agent_id)
    return replace(c, config=replace(config, id=c.id))


def run(store, c, now, limit=100, lease=timedelta(hours=2)):
    return store.run_tick(
        c.id, now, HORIZON, limit, lambda snap, v: tick.decide(snap, now, HORIZON, v), lease
    )


def end(store, attempt_id, outcome, at):
    result = CallResult(attempt_id, outcome, at)
    return store.end_attempt(result, tick.finisher(result))


def test_attempts_are_recorded_before_dialling_with_stable_ids(store) -> None:
    """A tick activates the campaign and writes one attempt per dial, keyed by (contact, number)."""
    c = open_campaign(store, attempts_per_second=2)
    people = contacts(c.id, 5)
    store.create_campaign(c, people)
    assert c.id in store.campaigns_to_plan(T0, 10)
    writes = run(store, c, T0)
    assert writes.status is CampaignStatus.ACTIVE
    assert len(writes.dials) == 2  # two slots in one second at 2/s
    for d in writes.dials:
        assert d.attempt.id == tick.attempt_id(d.contact.id, 0)
        assert store.get_contact(d.contact.id).state is ContactState.DIALING
        assert [a.id for a in store.attempts_of(d.contact.id)] == [d.attempt.id]
    assert store.get_campaign(c.id).config.status is CampaignStatus.ACTIVE


def test_replanning_never_dials_a_contact_twice(store) -> None:
    """Planning again at once finds the dialled contacts busy and the rate spent."""
    c = open_campaign(store)
    store.create_campaign(c, contacts(c.id, 3))
    first = run(store, c, T0)
    second = run(store, c, T0)
    assert len(first.dials) == 3 and second.dials == ()


def test_context_is_narrowed_to_the_prompt(store) -> None:
    """Only the prompt's placeholders travel; other keys are listed as dropped."""
    c = open_campaign(store)
    (person,) = contacts(c.id, 1)
    person = replace(person, context={"name": "Ada", "ssn": "x", "_app_overrides": {}})
    store.create_campaign(c, [person])
    (d,) = run(store, c, T0).dials
    (stored,) = store.attempts_of(person.id)
    assert stored.variables == {"name": "Ada"} and stored.dropped_variables == ("ssn",)
    assert d.attempt.variables == {"name": "Ada"}


def test_outcome_is_recorded_once_and_drives_the_retry(store) -> None:
    """A no-answer schedules the retry; a repeated callback changes nothing."""
    c = open_campaign(store)
    (person,) = contacts(c.id, 1)
    store.create_campaign(c, [person])
    (d,) = run(store, c, T0).dials
    contact, attempt = end(store, d.attempt.id, Outcome.NO_ANSWER, T0 + 30 * SEC)
    assert contact.state is ContactState.WAITING
    assert contact.next_due_at == T0 + 30 * SEC + timedelta(minutes=5)
    assert attempt.retry_rule == "retry"
    assert end(store, d.attempt.id, Outcome.COMPLETED, T0 + 40 * SEC) is None
    assert store.get_contact(person.id).state is ContactState.WAITING
    retry_at = contact.next_due_at
    (again,) = run(store, c, retry_at).dials
    assert again.attempt.number == 1 and again.attempt.id == tick.attempt_id(person.id, 1)
    contact, _ = end(store, again.attempt.id, Outcome.NO_ANSWER, retry_at + 10 * SEC)
    assert contact.state is ContactState.EXHAUSTED


def test_the_providers_evidence_is_kept_with_the_end(store) -> None:
    """The ordinary end path (``tick.finisher``) keeps who answered and the provider's own
    code on the ended attempt, as stored and as read back."""
    c = open_campaign(store)
    store.create_campaign(c, contacts(c.id, 1))
    (d,) = run(store, c, T0).dials
    said = CallResult(
        d.attempt.id,
        Outcome.VOICEMAIL,
        T0 + 30 * SEC,
        answered_by="machine",
        provider_code="completed;answered_by=machine_end_beep",
    )
    _, ended = store.end_attempt(said, tick.finisher(said))
    (stored,) = store.attempts_of(d.contact.id)
    for attempt in (ended, stored):
        assert (attempt.answered_by, attempt.provider_code) == (
            "machine",
            "completed;answered_by=machine_end_beep",
        )


def test_lost_outcomes_are_reconciled_after_the_lease(store) -> None:
    """An attempt whose worker died is found after its lease and ended as an internal error."""
    c = open_campaign(store)
    (person,) = contacts(c.id, 1)
    store.create_campaign(c, [person])
    (d,) = run(store, c, T0, lease=timedelta(seconds=30)).dials
    assert store.expired_attempts(T0 + 10 * SEC, 10) == []
    assert store.expired_attempts(T0 + 31 * SEC, 10) == [d.attempt.id]
    contact, attempt = end(store, d.attempt.id, Outcome.INTERNAL_ERROR, T0 + 31 * SEC)
    assert attempt.outcome is Outcome.INTERNAL_ERROR
    assert contact.state is ContactState.EXHAUSTED  # the policy does not retry internal errors
    assert store.expired_attempts(T0 + 60 * SEC, 10) == []


def test_a_call_ending_after_cancel_cancels_its_contact(store) -> None:
    """Calls in progress finish; their contacts are cancelled, not queued again."""
    c = open_campaign(store)
    (person,) = contacts(c.id, 1)
    store.create_campaign(c, [person])
    (d,) = run(store, c, T0).dials
    store.set_campaign_status(c.id, CampaignStatus.CANCELLED, T0 + SEC)
    contact, _ = end(store, d.attempt.id, Outcome.NO_ANSWER, T0 + 20 * SEC)
    assert contact.state is ContactState.CANCELLED


def test_concurrency_cap_holds_until_calls_end(store) -> None:
    """With two calls allowed at once, the third waits for one to end."""
    c = open_campaign(store, max_concurrent=2)
    store.create_campaign(c, contacts(c.id, 3))
    first = run(store, c, T0)
    assert len(first.dials) == 2
    assert run(store, c, T0 + SEC).dials == ()
    end(store, first.dials[0].attempt.id, Outcome.COMPLETED, T0 + 2 * SEC)
    assert len(run(store, c, T0 + 3 * SEC).dials) == 1


@pytest.mark.parametrize("cap", [1, 3])
def test_daily_quota(store, cap: int) -> None:
    """No more dials in a local day than the cap, whatever the number of ticks."""
    c = open_campaign(store, calls_per_day=cap)
    store.create_campaign(c, contacts(c.id, 5))
    dialled = 0
    for i in range(5):
        dialled += len(run(store, c, T0 + i * SEC).dials)
    assert dialled == cap


def test_attempts_carry_their_connection_and_caller(store) -> None:
    """Each attempt records the connection and caller number it goes out on."""
    from ringcast.core.routing import Route

    c = open_campaign(store)
    routes = (Route("exotel", ("+918000000001",), 1), Route("plivo", ("+918000000003",), 1))
    c = replace(c, config=replace(c.config, routes=routes))
    # 40 attempts at 1:1: all on one connection has a chance of 2**-39
    store.create_campaign(c, contacts(c.id, 40))
    assert store.get_campaign(c.id).config.routes == routes
    writes = run(store, c, T0)
    used = set()
    for d in writes.dials:
        (stored,) = store.attempts_of(d.contact.id)
        assert (stored.connection_id, stored.caller_number) in {
            ("exotel", "+918000000001"),
            ("plivo", "+918000000003"),
        }
        used.add(stored.connection_id)
    assert used == {"exotel", "plivo"}


def test_ends_written_together_are_ends_written_one_by_one(store) -> None:
    """The dispatcher's group commit: a batch of ends leaves the same contacts, attempts and
    campaign wake-ups as the same ends written in turn; repeats and unknown ids are None."""

    def dialled_campaign():
        c = open_campaign(store, max_concurrent=2)
        store.create_campaign(c, contacts(c.id, 4))
        return c, run(store, c, T0).dials

    together, one_by_one = dialled_campaign(), dialled_campaign()
    endings = [(Outcome.NO_ANSWER, T0 + 20 * SEC), (Outcome.COMPLETED, T0 + 25 * SEC)]
    results = [
        [
            CallResult(d.attempt.id, outcome, at)
            for d, (outcome, at) in zip(dials, endings, strict=True)
        ]
        for _, dials in (together, one_by_one)
    ]
    batch = results[0] + [results[0][0], CallResult("no-such-attempt", Outcome.BUSY, T0)]
    written = store.end_attempts([(r, tick.finisher(r)) for r in batch])
    assert written[2:] == [None, None]
    in_turn = [end(store, r.attempt_id, r.outcome, r.ended_at) for r in results[1]]

    def shape(ends):
        return [(c.state, c.next_due_at, c.reason, a.outcome, a.ended_at) for c, a in ends]

    assert shape(written[:2]) == shape(in_turn)
    assert written[0][0].next_due_at == T0 + 20 * SEC + timedelta(minutes=5)
    for (c, _), ends in ((together, written[:2]), (one_by_one, in_turn)):
        assert store.load_snapshot(c.id, T0, SEC, 0).counters.in_flight == 0
        # full before the first end, so the campaign looks again from that end on
        assert c.id not in store.campaigns_to_plan(T0 + 19 * SEC, 10)
        assert c.id in store.campaigns_to_plan(T0 + 20 * SEC, 10)
        for contact, attempt in ends:
            assert store.get_contact(contact.id).state is contact.state
            (stored,) = store.attempts_of(contact.id)
            assert stored.outcome is attempt.outcome and stored.ended_at == attempt.ended_at


def test_a_withdrawn_attempt_hands_back_its_daily_unit(store) -> None:
    """The pre-dial hook said not now: no call was placed, so it spends no calls-per-day."""
    c = open_campaign(store, calls_per_day=1)
    store.create_campaign(c, contacts(c.id, 2))
    (first,) = run(store, c, T0).dials
    assert run(store, c, T0 + SEC).dials == ()  # the day's one call is taken
    assert store.withdraw_attempt(first.attempt.id, T0 + 10 * SEC, "predial_refused")
    (second,) = run(store, c, T0 + 2 * SEC).dials  # and given back
    assert second.contact.id != first.contact.id
    assert run(store, c, T0 + 20 * SEC).dials == ()  # spent now, for good
