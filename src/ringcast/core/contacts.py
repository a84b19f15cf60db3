"""Contact lifecycle: from waiting, through attempts, to a final state.

Theory of operation: a contact waits until it is due, is dialled (one attempt in
progress at a time), and when the attempt ends the retry policy says whether it waits
again or is final (reached or exhausted). Cancelling the campaign cancels waiting
contacts; a contact never dialled at all may be skipped, with a reason. An attempt
recorded but never dialled (the pre-dial hook said not now) is withdrawn: its contact
waits again as if it had not been dialled. The moves are listed in
``CONTACT_TRANSITIONS``; anything else is a bug in the shell and raises.

Both stores apply these rules as they write, and the few that touch the campaign's
counters or wake-up as well (a withdrawal, calls ending, a number already in a call)
are here too, so that neither store decides them on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ringcast.core.errors import RingcastError
from ringcast.core.model import Attempt, CampaignConfig, Contact, ContactState, evolve
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingCounters, PacingLimits
from ringcast.core.retry import Final, Retry, decide
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import intersect

C = ContactState

#: (from, event) -> to. ``attempt_ended`` leads to one of several states, chosen by the
#: retry policy; all of them are listed.
CONTACT_TRANSITIONS: dict[tuple[ContactState, str], frozenset[ContactState]] = {
    (C.WAITING, "dial"): frozenset({C.DIALING}),
    (C.WAITING, "defer"): frozenset({C.WAITING}),
    (C.WAITING, "cancel"): frozenset({C.CANCELLED}),
    (C.WAITING, "skip"): frozenset({C.SKIPPED}),
    (C.DIALING, "attempt_ended"): frozenset({C.WAITING, C.REACHED, C.EXHAUSTED}),
    (C.DIALING, "withdraw"): frozenset({C.WAITING, C.CANCELLED}),
}

#: Why a due contact waits when its number is already in a call (another campaign's).
NUMBER_IN_CALL = "number_in_call"
#: How long it waits before it is tried again.
NUMBER_IN_CALL_WAIT = timedelta(seconds=5)


class IllegalContactMove(RingcastError):
    """A contact was asked to move in a way its lifecycle does not allow."""


def _check(contact: Contact, event: str, to: ContactState) -> None:
    if to not in CONTACT_TRANSITIONS.get((contact.state, event), frozenset()):
        raise IllegalContactMove(f"contact {contact.id}: {event} from {contact.state} to {to}")


def start_attempt(
    contact: Contact,
    attempt_id: str,
    due_at: datetime,
    dialed_at: datetime,
    **details: Any,
) -> tuple[Contact, Attempt]:
    """The contact is being dialled: it leaves the queue and its attempt is recorded.

    ``details`` are further fields of the attempt (its variables, connection...), set in
    the one ``Attempt`` made here rather than in a copy of it.
    """
    _check(contact, "dial", C.DIALING)
    attempt = Attempt(
        id=attempt_id,
        contact_id=contact.id,
        campaign_id=contact.campaign_id,
        number=contact.attempts,
        due_at=due_at,
        dialed_at=dialed_at,
        **details,
    )
    dialing = evolve(contact, state=C.DIALING, next_due_at=None, attempts=contact.attempts + 1)
    return dialing, attempt


def finish_attempt(
    campaign: CampaignConfig,
    contact: Contact,
    history: Sequence[Attempt],
    ended: Attempt,
) -> tuple[Contact, Attempt]:
    """Apply the retry policy to an attempt that just ended.

    Args:
        campaign: the campaign the contact belongs to (its policy and window).
        contact: the contact, in ``dialing``.
        history: the contact's earlier attempts, oldest first.
        ended: the attempt, with its outcome and ``ended_at`` filled in.

    Returns:
        The contact in its next state, and the attempt with the retry rule that fired.
    """
    if ended.outcome is Outcome.IN_PROGRESS or ended.ended_at is None:
        raise IllegalContactMove(f"attempt {ended.id} has not ended")
    window = campaign.schedule.window
    if contact.window is not None:
        window = intersect(window, contact.window)
    for earlier in history:
        if earlier.ended_at is None:
            raise ValueError(f"attempt {earlier.id} has not ended")  # as ``as_result`` says
    decision = decide(campaign.retry, history, ended.as_result(), window)
    if isinstance(decision, Retry):
        _check(contact, "attempt_ended", C.WAITING)
        return (
            evolve(contact, state=C.WAITING, next_due_at=decision.due_at),
            evolve(ended, retry_rule=decision.rule),
        )
    assert isinstance(decision, Final)
    state = C.REACHED if decision.reached else C.EXHAUSTED
    _check(contact, "attempt_ended", state)
    return evolve(contact, state=state, next_due_at=None), ended


def end_without_retry(contact: Contact, ended: Attempt) -> tuple[Contact, Attempt]:
    """End an attempt without asking the retry policy: the contact is final (reached if
    the call connected, else exhausted).

    The way out when applying the policy to this attempt failed: an attempt must end
    with its reason recorded rather than stay in a call, and a contact left final is
    visible, where one retried on a policy that cannot be applied would fail again.
    """
    if ended.outcome is Outcome.IN_PROGRESS or ended.ended_at is None:
        raise IllegalContactMove(f"attempt {ended.id} has not ended")
    state = C.REACHED if ended.outcome.connected else C.EXHAUSTED
    _check(contact, "attempt_ended", state)
    return evolve(contact, state=state, next_due_at=None), ended


def cancel(contact: Contact) -> Contact:
    """Cancel a waiting contact; others are left as they are (calls in progress finish)."""
    if contact.state is not C.WAITING:
        return contact
    _check(contact, "cancel", C.CANCELLED)
    return evolve(contact, state=C.CANCELLED, next_due_at=None)


def skip(contact: Contact, reason: str) -> Contact:
    _check(contact, "skip", C.SKIPPED)
    return evolve(contact, state=C.SKIPPED, next_due_at=None, reason=reason)


def defer(contact: Contact, until: datetime | None, reason: str) -> Contact:
    """Wait until ``until``; None waits, visibly, until something about the contact changes
    (someone gives it a zone) and leaves the due queue meanwhile."""
    _check(contact, "defer", C.WAITING)
    return evolve(contact, next_due_at=until, reason=reason)


def earliest(wake_at: datetime | None, at: datetime | None) -> datetime | None:
    """The sooner of two wake-ups, where None means "none", not "now"."""
    if wake_at is None:
        return at
    if at is None:
        return wake_at
    return min(wake_at, at)


def hold_numbers_in_call(
    held: Sequence[Contact], wake_at: datetime | None, now: datetime
) -> tuple[list[Contact], datetime | None]:
    """Due contacts whose numbers are already in a call wait ``NUMBER_IN_CALL_WAIT`` and
    are tried again; the campaign's wake-up comes no later than that.

    Returns the held contacts as they wait, and the campaign's wake-up.
    """
    if not held:
        return [], wake_at
    retry_at = now + NUMBER_IN_CALL_WAIT
    return [defer(k, retry_at, NUMBER_IN_CALL) for k in held], earliest(wake_at, retry_at)


def withdraw(
    contact: Contact,
    attempt: Attempt,
    campaign_status: CampaignStatus,
    until: datetime,
    reason: str,
) -> Contact:
    """The contact of an attempt recorded but never dialled, once the attempt is taken back.

    No call was placed, so the attempt counts towards no retry budget: the contact has
    the attempts it had before it, and waits again until ``until`` with ``reason``; or
    is cancelled, if its campaign was cancelled meanwhile.
    """
    if campaign_status is CampaignStatus.CANCELLED:
        _check(contact, "withdraw", C.CANCELLED)
        return evolve(
            contact, state=C.CANCELLED, attempts=attempt.number, next_due_at=None, reason=reason
        )
    _check(contact, "withdraw", C.WAITING)
    return evolve(
        contact, state=C.WAITING, attempts=attempt.number, next_due_at=until, reason=reason
    )


def counters_after_withdrawal(
    counters: PacingCounters, pacing: PacingLimits, attempt: Attempt
) -> PacingCounters:
    """The campaign's counters once a withdrawn attempt gives back its place in flight
    and, if it was counted in the current calling day, its unit of calls per day."""
    counted_today = counters.day == pacing.local_day(attempt.dialed_at or attempt.due_at)
    return replace(
        counters,
        in_flight=max(counters.in_flight - 1, 0),
        dialed_today=max(counters.dialed_today - 1, 0) if counted_today else counters.dialed_today,
    )


def wake_after_ends(
    max_concurrent: int | None, in_flight: int, ends: Sequence[tuple[Contact, Attempt]]
) -> tuple[int, datetime | None]:
    """What these calls ending, in this order, does to their campaign: its calls in
    flight afterwards (from ``in_flight`` before), and when it must plan again because
    of them (None: no sooner than it would anyway).

    At once (the call's end) for a call that held the last free place, since a full
    campaign plans no wake-up of its own for that; and by each contact's retry. Any other
    end changes nothing the planner waits for, and waking for it would only cost a plan.
    """
    wake_at: datetime | None = None
    for contact, ended in ends:
        full = max_concurrent is not None and in_flight >= max_concurrent
        if full and ended.ended_at is not None:
            wake_at = earliest(wake_at, ended.ended_at)
        if contact.state is C.WAITING and contact.next_due_at is not None:
            wake_at = earliest(wake_at, contact.next_due_at)
        in_flight = max(in_flight - 1, 0)
    return in_flight, wake_at
