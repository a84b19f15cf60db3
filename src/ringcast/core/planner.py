"""The planner: what to do now, and when to look again.

Theory of operation: the shell reads the clock once, loads a snapshot of one campaign
(its config, its pacing counters, and the contacts due by ``now + horizon`` in due
order) and calls ``plan(snapshot, now)``. The planner is a pure function of that
snapshot; it returns decisions and a wake-up time:

1. The status the campaign moves to by itself (``scheduled`` <-> ``active`` with the
   window, ``ended`` past the end time) comes first; a campaign that may not dial stops
   there.
2. Contacts whose own window is closed are deferred to their next opening, with the
   reason, so they stop occupying the head of the queue.
3. Pacing grants dial moments (spaced for the rate, capped by concurrency and the daily
   quota); each is given to the next due contact as a ``PlaceCall``.
4. ``wake_at`` is the earliest moment something could change: the window opening or
   closing, the end time, the next due contact, the next pacing slot.

The real-time worker and the virtual-time forecast both call this function; only the
clock and the store differ between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ringcast.core import compliance
from ringcast.core.compliance import NO_FACTS, POLICIES, CallingPolicy, PhoneFacts
from ringcast.core.lines import Line
from ringcast.core.model import CampaignConfig, Contact, ContactState
from ringcast.core.pacing import PacingCounters, dial_budget
from ringcast.core.states import CampaignStatus, advance
from ringcast.core.values import quick_init
from ringcast.core.windows import Window, intersect

#: How far ahead one plan hands out dial moments.
DEFAULT_HORIZON = timedelta(seconds=1)


@quick_init
@dataclass(frozen=True)
class CampaignSnapshot:
    """What the store loaded for one planning step."""

    campaign: CampaignConfig
    counters: PacingCounters
    #: waiting contacts due by ``now + horizon``, earliest first (the store may cap them)
    due: Sequence[Contact]
    #: the due moment of the earliest waiting contact not in ``due`` (None: there is none)
    next_due_at: datetime | None = None
    #: the calling-hours policy in force (the campaign's override, else its organization's)
    policy: CallingPolicy = POLICIES["none"]
    #: what the organization's records say about the due numbers, by phone
    facts: Mapping[str, PhoneFacts] = field(default_factory=dict)
    #: the registered connections the campaign routes to, by id (unregistered: no limits)
    lines: Mapping[str, Line] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeStatus:
    status: CampaignStatus
    reason: str  #: ``window_opened``, ``window_closed``, ``end_time_passed``


@quick_init
@dataclass(frozen=True)
class PlaceCall:
    contact_id: str
    attempt_number: int
    due_at: datetime  #: when the contact became due
    dial_at: datetime  #: the pacing slot: dial at this moment, not before


@quick_init
@dataclass(frozen=True)
class Defer:
    contact_id: str
    until: datetime | None  #: None: no opening is known (stays waiting, visibly)
    reason: str


@dataclass(frozen=True)
class Skip:
    """Never dial this contact (its number is on the do-not-call list)."""

    contact_id: str
    reason: str


Decision = ChangeStatus | PlaceCall | Defer | Skip


@quick_init
@dataclass(frozen=True)
class Plan:
    decisions: tuple[Decision, ...]
    #: None: nothing will happen until something changes; ``now``: plan again at once
    #: (more contacts are due than one plan took)
    wake_at: datetime | None

    @property
    def calls(self) -> tuple[PlaceCall, ...]:
        return tuple(d for d in self.decisions if isinstance(d, PlaceCall))


def plan(snapshot: CampaignSnapshot, now: datetime, horizon: timedelta = DEFAULT_HORIZON) -> Plan:
    """Decide what to do for one campaign at ``now``.

    Args:
        snapshot: the campaign, its counters and its due contacts.
        now: the current moment, from the caller's clock.
        horizon: how far ahead dial moments are granted.

    Returns:
        The decisions in the order to carry them out, and when to plan again.
    """
    campaign = snapshot.campaign
    schedule = campaign.schedule
    window = schedule.window
    decisions: list[Decision] = []

    status = advance(
        campaign.status, window_open=window.is_open(now), past_end=schedule.past_end(now)
    )
    if status != campaign.status:
        decisions.append(ChangeStatus(status, _reason(status)))
    if status is not CampaignStatus.ACTIVE:
        return Plan(tuple(decisions), _wake_when_idle(status, snapshot, now))

    ready, held, due_later = _triage_due(snapshot, window, now)
    decisions.extend(held)
    wakes: list[datetime | None] = [window.next_close(now), snapshot.next_due_at, *due_later]

    # More contacts are due than the store loaded: ask for one more slot than we can fill,
    # so that a full budget says when to look again, and an unfilled one says "at once".
    backlog = snapshot.next_due_at is not None and snapshot.next_due_at <= now
    wanted = len(ready) + backlog
    budget = dial_budget(campaign.pacing, snapshot.counters, now, horizon, wanted)
    decisions.extend(_place_calls(snapshot, window, ready, budget.slots, now))
    if len(budget.slots) < wanted:
        wakes.append(budget.retry_at)
    elif backlog:
        return Plan(tuple(decisions), now)
    return Plan(tuple(decisions), _earliest(wakes, now))


def _triage_due(
    snapshot: CampaignSnapshot, window: Window, now: datetime
) -> tuple[list[Contact], list[Decision], list[datetime]]:
    """Split the loaded contacts into those ready to dial now, those held back (a ``Defer``
    or ``Skip`` each, in due order) and the due moments of those not due yet."""
    ready: list[Contact] = []
    held: list[Decision] = []
    due_later: list[datetime] = []
    for contact in snapshot.due:
        if contact.state is not ContactState.WAITING:
            continue
        due_at = contact.next_due_at or now
        if due_at > now:
            due_later.append(due_at)
            continue
        if contact.window is not None and not contact.window.is_open(now):
            until = intersect(window, contact.window).next_open(now)
            held.append(Defer(contact.id, until, "outside_contact_hours"))
            continue
        hold = _hold(snapshot, contact, window, now)
        if hold is not None:
            if hold.final:
                held.append(Skip(contact.id, hold.reason))
            else:
                held.append(Defer(contact.id, hold.until, hold.reason))
            continue
        ready.append(contact)
    return ready, held, due_later


def _place_calls(
    snapshot: CampaignSnapshot,
    window: Window,
    ready: Sequence[Contact],
    slots: Sequence[datetime],
    now: datetime,
) -> list[PlaceCall]:
    """Give each pacing slot to the next ready contact, in order."""
    calls: list[PlaceCall] = []
    for contact, dial_at in zip(ready, slots, strict=False):
        # A slot lies up to a horizon ahead: the windows must still be open when it comes.
        if not window.is_open(dial_at):
            break
        if (contact.window is not None and not contact.window.is_open(dial_at)) or _hold(
            snapshot, contact, window, dial_at
        ):
            continue  # it stays due; the next plan defers it with its reason
        calls.append(PlaceCall(contact.id, contact.attempts, contact.next_due_at or now, dial_at))
    return calls


def contacts_wanted(
    campaign: CampaignConfig,
    counters: PacingCounters,
    now: datetime,
    horizon: timedelta,
    cap: int,
) -> int:
    """How many due contacts one plan can use: as many as pacing grants dial moments.

    A store loads no more rows than this; loading the whole backlog on every plan would
    cost a rate-limited campaign far more than the dialling it plans.
    """
    return len(dial_budget(campaign.pacing, counters, now, horizon, cap).slots)


def _hold(
    snapshot: CampaignSnapshot, contact: Contact, window: Window, at: datetime
) -> compliance.Hold | None:
    if snapshot.policy is _NO_POLICY and not snapshot.facts:
        return None  # nothing to check: the common case, kept cheap
    where = compliance.locate(
        contact.phone, contact.zone, _text(contact.context.get("subdivision"))
    )
    facts = snapshot.facts.get(contact.phone, NO_FACTS)
    return compliance.check(snapshot.policy, where, facts, window, at)


_NO_POLICY = POLICIES["none"]


def _text(value: object) -> str | None:
    return value.upper() if isinstance(value, str) and value else None


def _wake_when_idle(
    status: CampaignStatus, snapshot: CampaignSnapshot, now: datetime
) -> datetime | None:
    if status.is_terminal:
        return None
    # Paused campaigns still end by themselves at their end time.
    schedule = snapshot.campaign.schedule
    opens_at = schedule.window.next_open(now) if status is CampaignStatus.SCHEDULED else None
    return _earliest([opens_at, schedule.ends_at], now)


def _earliest(moments: Sequence[datetime | None], now: datetime) -> datetime | None:
    future = [m for m in moments if m is not None and m > now]
    return min(future) if future else None


def _reason(new: CampaignStatus) -> str:
    if new is CampaignStatus.ENDED:
        return "end_time_passed"
    return "window_opened" if new is CampaignStatus.ACTIVE else "window_closed"
