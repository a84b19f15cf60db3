"""Value types of the scheduling core: campaigns, contacts and attempts.

All are frozen; a change makes a new value (``dataclasses.replace``). Ids are strings
decided by the shell (UUIDs); the core never makes one up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, TypeVar

from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import AttemptResult, RetryPolicy
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.core.values import quick_init
from ringcast.core.windows import Span, WeeklyWindow, Window, intersect


class ContactState(StrEnum):
    WAITING = "waiting"  #: due at ``next_due_at``
    DIALING = "dialing"  #: an attempt is in progress
    REACHED = "reached"  #: final: someone answered and the policy asks no more
    EXHAUSTED = "exhausted"  #: final: every allowed attempt went unanswered
    CANCELLED = "cancelled"  #: final: the campaign was cancelled first
    SKIPPED = "skipped"  #: final: never dialled, for the reason in ``reason``

    @property
    def is_final(self) -> bool:
        return self not in (ContactState.WAITING, ContactState.DIALING)


@dataclass(frozen=True)
class Schedule:
    """When a campaign may dial: its weekly slots within its start and end."""

    weekly: WeeklyWindow
    starts_at: datetime | None = None
    ends_at: datetime | None = None  #: past this the campaign ends

    @cached_property
    def window(self) -> Window:  # cached: the planner asks for it on every pass
        return intersect(self.weekly, Span(self.starts_at, self.ends_at))

    def past_end(self, now: datetime) -> bool:
        return self.ends_at is not None and now >= self.ends_at


class VoicemailAction(StrEnum):
    HANGUP = "hangup"  #: end the call as soon as a machine is detected
    #: play the campaign's message (or hand it to the agent to say), then end the call
    LEAVE_MESSAGE = "leave_message"
    AGENT = "agent"  #: let the agent handle it as it would any callee (the default)


@dataclass(frozen=True)
class VoicemailPolicy:
    """What a call does when an answering machine picks up; the gateway carries it out.

    ``leave_message`` comes with exactly one of ``message_text`` and
    ``message_audio_url`` (``services.voicemail`` refuses anything else). Whether the
    contact is called again after a voicemail is the retry policy's to say, not this.
    """

    action: VoicemailAction = VoicemailAction.AGENT
    message_text: str | None = None  #: said by the gateway's voice or the agent
    message_audio_url: str | None = None  #: a recording the gateway plays


@dataclass(frozen=True)
class CampaignConfig:
    """What the planner needs to know about a campaign."""

    id: str
    status: CampaignStatus
    schedule: Schedule
    pacing: PacingLimits
    retry: RetryPolicy
    #: the connections and caller numbers to dial from; empty: the default gateway
    routes: tuple[Route, ...] = ()
    #: calling-hours policy overriding the organization's (``fr``, ``us``, ``in``, ``none``)
    policy: str | None = None
    #: asked before each dial whether the contact may be called now
    predial: PredialHook | None = None
    #: what a call does when an answering machine picks up
    voicemail: VoicemailPolicy = VoicemailPolicy()


@dataclass(frozen=True)
class PredialHook:
    url: str
    #: no answer within this is a "not now"
    timeout: timedelta = timedelta(seconds=2)
    #: how long a contact the hook refused waits before it is asked about again
    retry_after: timedelta = timedelta(minutes=15)


@quick_init
@dataclass(frozen=True)
class Contact:
    id: str
    campaign_id: str
    phone: str  #: E.164
    state: ContactState = ContactState.WAITING
    next_due_at: datetime | None = None  #: set while waiting
    attempts: int = 0  #: attempts started so far
    context: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None  #: why it is skipped, or why its dial was deferred
    user_identifier: str | None = None  #: the customer's own id for this person
    cohort_id: str | None = None  #: the upload (Sarvam cohort) it came in with
    zone: str | None = None  #: explicit IANA zone of the person, when known
    #: The contact's own window (their local hours, legal hours), if any; None: only the
    #: campaign's window applies.
    window: Window | None = None


@quick_init
@dataclass(frozen=True)
class Attempt:
    """One call to one contact. Its id is its idempotency key at the gateway."""

    id: str
    contact_id: str
    campaign_id: str
    number: int  #: 0 for the first attempt, 1 for the first retry...
    due_at: datetime
    dialed_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: Outcome = Outcome.IN_PROGRESS
    duration: timedelta | None = None
    qualifiers: frozenset[str] = frozenset()
    retry_rule: str | None = None  #: the rule that scheduled the next attempt, if any
    connection_id: str | None = None
    caller_number: str | None = None
    gateway_call_id: str | None = None
    failure_reason: str | None = None
    #: who picked up, as the provider's answering-machine detection said (``human``,
    #: ``machine``, ``fax``, ``unknown``); None: the provider gave no evidence
    answered_by: str | None = None
    #: the provider's own code for how the call ended (a Twilio ``CallStatus``, a SIP
    #: status, Retell's ``disconnection_reason``...), kept as evidence beside ``outcome``
    provider_code: str | None = None
    #: the contact's context narrowed to the agent prompt's placeholders
    variables: Mapping[str, Any] = field(default_factory=dict)
    #: context keys the prompt does not use, dropped before dialling
    dropped_variables: tuple[str, ...] = ()

    def as_result(self) -> AttemptResult:
        if self.ended_at is None:
            raise ValueError(f"attempt {self.id} has not ended")
        return AttemptResult(
            outcome=self.outcome,
            ended_at=self.ended_at,
            duration=self.duration,
            qualifiers=self.qualifiers,
            retry_rule=self.retry_rule,
        )


_Record = TypeVar("_Record")
#: per dataclass, its field names; None: it has a ``__post_init__`` or no ``__dict__``
#: (``evolve`` then leaves it to ``dataclasses.replace``)
_FIELDS: dict[type, frozenset[str] | None] = {}
_UNSEEN = frozenset({"<unseen>"})


def evolve(record: _Record, **changes: Any) -> _Record:
    """``dataclasses.replace``, about five times faster for plain frozen dataclasses.

    Every attempt makes several of these (contacts, attempts, counters, a step's writes),
    so their cost bounds the forecast's speed. The copy skips ``__init__``, which is safe
    only for a dataclass without ``__post_init__`` whose instances keep their fields in
    ``__dict__`` and nothing else there; any other is handed to ``dataclasses.replace``.
    """
    kind = type(record)
    names = _FIELDS.get(kind, _UNSEEN)
    if names is _UNSEEN:
        plain = not hasattr(kind, "__post_init__") and hasattr(record, "__dict__")
        names = _FIELDS[kind] = (
            frozenset(f.name for f in fields(record)) if plain else None  # type: ignore[arg-type]
        )
    # an instance holding more than its fields (a cached property, remembered spans)
    # would carry them over unchanged: only ``dataclasses.replace`` recomputes them
    if names is None or len(old := record.__dict__) != len(names):
        return replace(record, **changes)  # type: ignore[type-var]
    if not changes.keys() <= names:
        raise TypeError(f"{kind.__name__} has no field {sorted(changes.keys() - names)}")
    new = object.__new__(kind)
    own = new.__dict__
    own.update(old)
    own.update(changes)
    return new
