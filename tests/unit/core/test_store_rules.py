"""The rules both stores apply as they write: lifecycle events, live statuses, the policy in
force, what a call's end records, holds, withdrawals and the wake-up after calls end."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from ringcast.core import compliance
from ringcast.core.contacts import (
    NUMBER_IN_CALL,
    NUMBER_IN_CALL_WAIT,
    IllegalContactMove,
    counters_after_withdrawal,
    earliest,
    hold_numbers_in_call,
    start_attempt,
    wake_after_ends,
    withdraw,
)
from ringcast.core.model import Attempt, Contact, ContactState
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingCounters, PacingLimits
from ringcast.core.states import (
    LIVE_STATUSES,
    TRANSITIONS,
    CampaignStatus,
    action_event,
    advance_event,
)

S = CampaignStatus
T = datetime(2026, 6, 1, 9, tzinfo=UTC)
SEC = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("old", "new", "event"),
    [
        (S.SCHEDULED, S.PAUSED, "campaign.paused"),
        (S.ACTIVE, S.PAUSED, "campaign.paused"),
        (S.PAUSED, S.SCHEDULED, "campaign.resumed"),
        (S.SCHEDULED, S.CANCELLED, "campaign.cancelled"),
        (S.ACTIVE, S.CANCELLED, "campaign.cancelled"),
        (S.PAUSED, S.CANCELLED, "campaign.cancelled"),
        (S.SCHEDULED, S.ACTIVE, None),
        (S.PAUSED, S.PAUSED, None),
        (S.ENDED, S.CANCELLED, None),
    ],
)
def test_each_action_announces_its_event(old: S, new: S, event: str | None) -> None:
    """A person's move announces its action's event; a move no action makes announces none."""
    assert action_event(old, new) == event


def test_every_transition_has_an_event() -> None:
    """No action in the transition table goes unannounced."""
    assert all(action_event(old, new) for (old, _), new in TRANSITIONS.items())


@pytest.mark.parametrize(
    ("new", "event"),
    [
        (S.ACTIVE, "campaign.activated"),
        (S.ENDED, "campaign.ended"),
        (S.SCHEDULED, None),
    ],
)
def test_moves_by_themselves_announce_activation_and_end(new: S, event: str | None) -> None:
    """Activation and the end are announced; falling back to scheduled is not."""
    assert advance_event(new) == event


def test_live_statuses_are_those_not_over() -> None:
    """Scheduled, active and paused campaigns are still planned; ended and cancelled are not."""
    assert {S.SCHEDULED, S.ACTIVE, S.PAUSED} == LIVE_STATUSES


@pytest.mark.parametrize(
    ("campaign_policy", "org_policy", "name"),
    [("fr", "us", "fr"), (None, "us", "us"), (None, None, "none"), ("gone", None, "gone")],
)
def test_the_campaigns_policy_wins_over_its_organizations(
    campaign_policy: str | None, org_policy: str | None, name: str
) -> None:
    """The campaign's own policy, else the organization's, else none; an unknown name
    applies no policy."""
    assert compliance.effective_policy_name(campaign_policy, org_policy) == name
    expected = compliance.POLICIES.get(name, compliance.POLICIES["none"])
    assert compliance.effective_policy(campaign_policy, org_policy) is expected


@pytest.mark.parametrize(
    ("qualifiers", "refused", "opted_out"),
    [
        (frozenset({"Not_Interested"}), True, False),
        (frozenset({"DNC"}), False, True),
        (frozenset({"refused", "opt_out"}), True, True),
        (frozenset({"voicemail"}), False, False),
    ],
)
def test_what_a_call_end_records(
    qualifiers: frozenset[str], refused: bool, opted_out: bool
) -> None:
    """Refusal and opt-out qualifiers, in any case, are recorded at the call's end."""
    said = compliance.what_was_said(qualifiers, T)
    assert said.refused_at == (T if refused else None)
    assert said.opted_out_at == (T if opted_out else None)
    assert compliance.what_was_said(qualifiers, None) == compliance.Said()


def test_a_busy_number_waits_briefly_and_the_campaign_looks_again() -> None:
    """A held contact waits NUMBER_IN_CALL_WAIT with its reason; the wake-up comes no later."""
    k = Contact("k", "c", "+33612345678", next_due_at=T)
    (held,), wake = hold_numbers_in_call([k], T + timedelta(hours=1), T)
    assert (held.state, held.reason) == (ContactState.WAITING, NUMBER_IN_CALL)
    assert held.next_due_at == wake == T + NUMBER_IN_CALL_WAIT
    assert hold_numbers_in_call([k], T + SEC, T)[1] == T + SEC
    assert hold_numbers_in_call([], None, T) == ([], None)


def dialled() -> tuple[Contact, Attempt]:
    return start_attempt(Contact("k", "c", "+33612345678", attempts=1, next_due_at=T), "a", T, T)


@pytest.mark.parametrize(
    ("status", "state", "due"),
    [(S.ACTIVE, ContactState.WAITING, T + SEC), (S.CANCELLED, ContactState.CANCELLED, None)],
)
def test_a_withdrawn_attempt_gives_its_contact_back(
    status: S, state: ContactState, due: datetime | None
) -> None:
    """The contact waits again (cancelled, if its campaign was) with its attempt count as
    before the attempt and the reason given."""
    contact, attempt = dialled()
    back = withdraw(contact, attempt, status, T + SEC, "predial_refused")
    assert (back.state, back.next_due_at, back.attempts) == (state, due, 1)
    assert back.reason == "predial_refused"
    with pytest.raises(IllegalContactMove):
        withdraw(back, attempt, status, T + SEC, "predial_refused")


def test_a_withdrawal_hands_back_its_place_and_todays_unit() -> None:
    """In flight drops by one; calls today drop only if the attempt counted in that day."""
    _, attempt = dialled()
    pacing = PacingLimits(day_zone="UTC")
    today = PacingCounters(in_flight=2, day=date(2026, 6, 1), dialed_today=5)
    assert counters_after_withdrawal(today, pacing, attempt) == replace(
        today, in_flight=1, dialed_today=4
    )
    tomorrow = replace(today, day=date(2026, 6, 2))
    assert counters_after_withdrawal(tomorrow, pacing, attempt) == replace(tomorrow, in_flight=1)
    empty = PacingCounters()
    assert counters_after_withdrawal(empty, pacing, attempt) == empty


def ended(number: int, at: datetime, retry_at: datetime | None) -> tuple[Contact, Attempt]:
    state = ContactState.WAITING if retry_at else ContactState.REACHED
    contact = Contact(f"k{number}", "c", "+336", state=state, next_due_at=retry_at)
    attempt = Attempt(f"a{number}", contact.id, "c", 0, T, T, ended_at=at, outcome=Outcome.BUSY)
    return contact, attempt


def test_ends_wake_a_full_campaign_at_once_and_others_by_their_retries() -> None:
    """A full campaign looks again when its first call ends; any campaign by the soonest
    retry; a campaign neither full nor retrying keeps its own wake-up."""
    ends = [ended(0, T + 3 * SEC, None), ended(1, T + 5 * SEC, T + timedelta(hours=1))]
    assert wake_after_ends(2, 2, ends) == (0, T + 3 * SEC)
    assert wake_after_ends(3, 2, ends) == (0, T + timedelta(hours=1))
    assert wake_after_ends(None, 2, ends) == (0, T + timedelta(hours=1))
    assert wake_after_ends(None, 1, ends[:1]) == (0, None)
    assert wake_after_ends(None, 0, ends[:1]) == (0, None)


def test_the_sooner_wake_up_wins_and_none_is_no_wake_up() -> None:
    """earliest keeps the sooner of two moments and reads None as "no wake-up"."""
    assert earliest(T, T + SEC) == earliest(T + SEC, T) == T
    assert earliest(None, T) == earliest(T, None) == T
    assert earliest(None, None) is None
