"""Campaign status machine.

Theory of operation: a campaign has five statuses. Two of them move by themselves:
``scheduled`` becomes ``active`` while its calling window is open and falls back when it
closes, and every live status becomes ``ended`` once the end time has passed. The other
moves are actions a person takes (pause, resume, cancel), listed in ``TRANSITIONS``; an
action the table does not list raises ``InvalidTransition`` naming the status and the
action. ``ended`` and ``cancelled`` are terminal: nothing leaves them.

Every other status is live: a dispatcher keeps planning the campaign (a paused one too,
so that it ends at its end time). Each move announces a lifecycle event to the
campaign's webhooks, decided here beside the moves themselves: an action by the event
of that action (``ACTION_EVENTS``), a move by itself by the status it reaches
(``ADVANCE_EVENTS``).
"""

from __future__ import annotations

from enum import StrEnum

from ringcast.core.errors import InvalidTransition


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def dials(self) -> bool:
        """Whether calls may be placed in this status (the window decides the rest)."""
        return self in DIALLING_STATUSES


class CampaignAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


TERMINAL = frozenset({CampaignStatus.ENDED, CampaignStatus.CANCELLED})
#: Statuses a dispatcher still plans: every one that is not terminal.
LIVE_STATUSES = frozenset(CampaignStatus) - TERMINAL
#: Statuses in which calls may be placed (the window decides the rest).
DIALLING_STATUSES = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE})

S, A = CampaignStatus, CampaignAction

#: (current status, action) -> new status. Anything absent is refused.
TRANSITIONS: dict[tuple[CampaignStatus, CampaignAction], CampaignStatus] = {
    (S.SCHEDULED, A.PAUSE): S.PAUSED,
    (S.ACTIVE, A.PAUSE): S.PAUSED,
    (S.PAUSED, A.RESUME): S.SCHEDULED,
    (S.SCHEDULED, A.CANCEL): S.CANCELLED,
    (S.ACTIVE, A.CANCEL): S.CANCELLED,
    (S.PAUSED, A.CANCEL): S.CANCELLED,
}

#: The lifecycle event each action announces.
ACTION_EVENTS: dict[CampaignAction, str] = {
    A.PAUSE: "campaign.paused",
    A.RESUME: "campaign.resumed",
    A.CANCEL: "campaign.cancelled",
}

#: The lifecycle event each move a campaign makes by itself announces. Falling back to
#: ``scheduled`` when its window closes announces nothing.
ADVANCE_EVENTS: dict[CampaignStatus, str] = {
    S.ACTIVE: "campaign.activated",
    S.ENDED: "campaign.ended",
}


def apply_action(status: CampaignStatus, action: CampaignAction) -> CampaignStatus:
    """Return the status an action leads to, or raise ``InvalidTransition``."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(status.value, action.value) from None


def advance(status: CampaignStatus, *, window_open: bool, past_end: bool) -> CampaignStatus:
    """The status a campaign moves to by itself, given its window and end time.

    A paused campaign also ends at its end time: pausing holds the queue, it does not
    extend the campaign.
    """
    if status.is_terminal:
        return status
    if past_end:
        return S.ENDED
    if status is S.PAUSED:
        return status
    return S.ACTIVE if window_open else S.SCHEDULED


def action_event(old: CampaignStatus, new: CampaignStatus) -> str | None:
    """The event a person's move from ``old`` to ``new`` announces: that of the action
    ``TRANSITIONS`` lists for the move; None for a move no action makes."""
    for (status, action), to in TRANSITIONS.items():
        if status is old and to is new:
            return ACTION_EVENTS[action]
    return None


def advance_event(new: CampaignStatus) -> str | None:
    """The event a campaign's move to ``new`` by itself (``advance``) announces, if any."""
    return ADVANCE_EVENTS.get(new)
