"""Contact lifecycle: attempts, retries and final states."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from ringcast.core.contacts import IllegalContactMove, cancel, finish_attempt, skip, start_attempt
from ringcast.core.model import CampaignConfig, Contact, ContactState, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow

T = datetime(2026, 6, 1, 9, tzinfo=UTC)
CAMPAIGN = CampaignConfig(
    "c1",
    CampaignStatus.ACTIVE,
    Schedule(WeeklyWindow("UTC", (Slot(time(9), time(17)),))),
    PacingLimits(),
    RetryPolicy(
        max_retries=1,
        intervals=(timedelta(hours=2),),
        rules=(RetryRule("retry", frozenset({Outcome.NO_ANSWER})),),
    ),
)


def test_no_answer_then_retry_then_exhausted() -> None:
    """A contact retried once and unanswered twice ends exhausted after two attempts."""
    contact = Contact("k", "c1", "+33612345678", next_due_at=T)
    contact, a0 = start_attempt(contact, "a0", T, T)
    assert contact.state is ContactState.DIALING
    assert a0.number == 0
    ended0 = replace(a0, outcome=Outcome.NO_ANSWER, ended_at=T + timedelta(seconds=30))
    contact, a0 = finish_attempt(CAMPAIGN, contact, [], ended0)
    assert contact.state is ContactState.WAITING
    assert a0.retry_rule == "retry"
    assert contact.next_due_at == T + timedelta(hours=2, seconds=30)

    contact, a1 = start_attempt(contact, "a1", contact.next_due_at, contact.next_due_at)
    assert a1.number == 1
    ended1 = replace(a1, outcome=Outcome.NO_ANSWER, ended_at=a1.dialed_at + timedelta(seconds=20))
    contact, _ = finish_attempt(CAMPAIGN, contact, [a0], ended1)
    assert contact.state is ContactState.EXHAUSTED
    assert contact.attempts == 2


def test_answered_is_reached() -> None:
    """A completed call makes the contact reached."""
    contact, a = start_attempt(Contact("k", "c1", "+33612345678"), "a", T, T)
    contact, _ = finish_attempt(
        CAMPAIGN, contact, [], replace(a, outcome=Outcome.COMPLETED, ended_at=T)
    )
    assert contact.state is ContactState.REACHED


def test_illegal_moves_raise() -> None:
    """A contact cannot be dialled twice at once, nor finish an attempt still in progress."""
    contact, a = start_attempt(Contact("k", "c1", "+33612345678"), "a", T, T)
    with pytest.raises(IllegalContactMove):
        start_attempt(contact, "b", T, T)
    with pytest.raises(IllegalContactMove):
        finish_attempt(CAMPAIGN, contact, [], a)
    with pytest.raises(IllegalContactMove):
        skip(contact, "do_not_call")


def test_cancel_leaves_calls_in_progress_alone() -> None:
    """Cancelling cancels waiting contacts; a contact being dialled finishes its call."""
    waiting = Contact("k", "c1", "+33612345678")
    assert cancel(waiting).state is ContactState.CANCELLED
    dialing = replace(waiting, state=ContactState.DIALING)
    assert cancel(dialing) is dialing
