"""Contact lifecycle: from waiting, through attempts, to a final state.

Theory of operation: a contact waits until it is due, is dialled (one attempt in
progress at a time), and when the attempt ends the retry policy says whether it waits
again or is final (reached or exhausted). Cancelling the campaign cancels waiting
contacts; a contact never dialled at all may be skipped, with a reason. The moves are
listed in ``CONTACT_TRANSITIONS``; anything else is a bug in the shell and raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ringcast.core.errors import RingcastError
from ringcast.core.model import Attempt, CampaignConfig, Contact, ContactState, evolve
from ringcast.core.outcomes import Outcome
from ringcast.core.retry import Final, Retry, decide
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
}


class IllegalContactMove(RingcastError):
    """A contact was asked to move in a way its lifecycle does not allow."""


def _check(contact: Contact, event: str, to: ContactState) -> None:
    if to not in CONTACT_TRANSITIONS.get((contact.state, event), frozenset()):
        raise IllegalContactMove(f"contact {contact.id}: {event} from {contact.state} to {to}")


def start_attempt(
    contact: Contact, attempt_id: str, due_at: datetime, dialed_at: datetime
) -> tuple[Contact, Attempt]:
    """The contact is being dialled: it leaves the queue and its attempt is recorded."""
    _check(contact, "dial", C.DIALING)
    attempt = Attempt(
        id=attempt_id,
        contact_id=contact.id,
        campaign_id=contact.campaign_id,
        number=contact.attempts,
        due_at=due_at,
        dialed_at=dialed_at,
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
    decision = decide(campaign.retry, [a.as_result() for a in history], ended.as_result(), window)
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
