"""One planning step for one campaign, and what happens when a call ends.

``decide`` runs inside the store's transaction (which, on PostgreSQL, holds the
campaign's row lock and its connections' rows): it asks the core planner what to do,
gives each dial a connection free at its slot (``core.lines``), and turns the answer into
the writes the store commits before anybody dials. ``finish`` runs the retry policy on a
finished attempt. The real-time dispatcher and the forecast both use these two; only the
clock and the store differ.

The value types the two steps exchange with a store (``Dial``, ``TickWrites``,
``CallResult``, ``Finish``) live here too: they are the core's vocabulary, and the
shell's ports only name who reads and writes them.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ringcast.core import callers, routing
from ringcast.core import contacts as lifecycle
from ringcast.core.callers import CallerCaps, CallerUsage
from ringcast.core.lines import LINE_BUSY_WAIT, LINE_TURN, Line
from ringcast.core.model import (
    Attempt,
    Contact,
    ContactState,
    PredialHook,
    VoicemailPolicy,
    evolve,
)
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingCounters, after_dials
from ringcast.core.planner import CampaignSnapshot, ChangeStatus, Defer, PlaceCall, Skip, plan
from ringcast.core.states import CampaignStatus
from ringcast.core.values import quick_init


@quick_init
@dataclass(frozen=True)
class Dial:
    contact: Contact  #: in ``dialing``
    attempt: Attempt  #: recorded before the gateway hears of it
    dial_at: datetime  #: the pacing slot: not before this
    predial: PredialHook | None = None  #: ask it first, if the campaign has one


@quick_init
@dataclass(frozen=True)
class TickWrites:
    """What one planning step changes, written in one transaction."""

    status: CampaignStatus | None = None
    dials: tuple[Dial, ...] = ()
    deferred: tuple[Contact, ...] = ()  #: contacts held back (waiting) or skipped, with why
    counters: PacingCounters | None = None
    next_wake_at: datetime | None = None
    reasons: tuple[str, ...] = field(default=())
    #: connections the dials went out on: their counters after this step, by id
    lines: Mapping[str, PacingCounters] = field(default_factory=dict)
    #: caller numbers of those connections that dialled in this step: their usage after
    #: it, by (connection id, number) (only where the connection caps its numbers)
    callers: Mapping[tuple[str, str], CallerUsage] = field(default_factory=dict)
    #: the campaign's agent and organization, for the gateway (set by the store, which
    #: knows the campaign)
    agent_id: str = ""
    agent_version: int | None = None
    org_id: str = ""
    #: what the dials do when an answering machine picks up (the campaign's policy)
    voicemail: VoicemailPolicy = field(default_factory=VoicemailPolicy)


@quick_init
@dataclass(frozen=True)
class CallResult:
    """What a gateway reports when a call is over."""

    attempt_id: str
    outcome: Outcome
    ended_at: datetime
    answered_at: datetime | None = None
    duration: timedelta | None = None
    qualifiers: frozenset[str] = frozenset()
    gateway_call_id: str | None = None
    failure_reason: str | None = None
    transcript: tuple[Mapping[str, Any], ...] = ()
    summary: str | None = None
    extracted: Mapping[str, Any] = field(default_factory=dict)
    #: who picked up, as the provider's answering-machine detection said: ``human``,
    #: ``machine``, ``fax`` or ``unknown`` (None: the provider gave no evidence)
    answered_by: str | None = None
    #: the provider's own code for how the call ended (Twilio ``CallStatus``/``AnsweredBy``,
    #: a SIP status, Retell's ``disconnection_reason``), kept as evidence beside the outcome
    provider_code: str | None = None


#: Given the campaign's status and config, the contact, its earlier attempts and the
#: attempt that ended: the contact's next state and the finished attempt.
Finish = Callable[
    [CampaignStatus, Any, Contact, Sequence[Attempt], Attempt], tuple[Contact, Attempt]
]

#: How long a dialled attempt may go without an outcome before it is reconciled: longer
#: than any call, so a live call is never taken for a lost one.
CALL_LEASE = timedelta(hours=2)

#: The caps of a connection nobody registered: none.
NO_CAPS = CallerCaps()


#: attempt ids are uuid5(contact, number): a re-plan after a crash produces the same id,
#: which the unique constraint then refuses instead of dialling twice.
ATTEMPT_NAMESPACE = uuid.UUID("6f1d3c2e-9a57-4b0e-8d7c-3b1f7c0a9e21")


_NAMESPACE_BYTES = ATTEMPT_NAMESPACE.bytes


def uuid5_text(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))``, without building two ``UUID``
    objects: the forecast computes one per contact and one per attempt."""
    h = bytearray(hashlib.sha1(namespace + name.encode(), usedforsecurity=False).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50  # version 5
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def attempt_id(contact_id: str, number: int) -> str:
    """``str(uuid.uuid5(ATTEMPT_NAMESPACE, f"{contact_id}:{number}"))``."""
    return uuid5_text(_NAMESPACE_BYTES, f"{contact_id}:{number}")


def narrow_context(
    context: Mapping[str, Any], variables: Sequence[str]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The context keys the prompt uses, and the sorted list of those it does not."""
    if not context:
        return {}, ()
    wanted = set(variables)
    kept = {k: v for k, v in context.items() if k in wanted}
    dropped = tuple(sorted(k for k in context if k not in wanted and not k.startswith("_")))
    return kept, dropped


def decide(
    snapshot: CampaignSnapshot, now: datetime, horizon: timedelta, variables: Sequence[str]
) -> TickWrites:
    """Plan the campaign at ``now`` and build the writes for it."""
    planned = plan(snapshot, now, horizon)
    by_id = {c.id: c for c in snapshot.due}
    routes = snapshot.campaign.routes
    lines = dict(snapshot.lines)
    status: CampaignStatus | None = None
    dials: list[Dial] = []
    deferred: list[Contact] = []
    reasons: list[str] = []
    blocked = False  #: a dial found no connection free at its slot
    for d in planned.decisions:
        if isinstance(d, ChangeStatus):
            status = d.status
            reasons.append(d.reason)
        elif isinstance(d, PlaceCall):
            contact = by_id[d.contact_id]
            new_id = attempt_id(contact.id, d.attempt_number)
            at = d.dial_at
            route = _book_route(routes, lines, contact, at)
            if route is None:
                blocked = True  # every connection is at its limit: the contact stays due
                continue
            connection, caller = route
            kept, dropped = narrow_context(contact.context, variables)
            dialing, attempt = lifecycle.start_attempt(
                contact,
                new_id,
                d.due_at,
                at,
                variables=kept,
                dropped_variables=dropped,
                connection_id=connection,
                caller_number=caller,
            )
            dials.append(Dial(dialing, attempt, at, snapshot.campaign.predial))
        elif isinstance(d, Defer):
            deferred.append(lifecycle.defer(by_id[d.contact_id], d.until, d.reason))
        elif isinstance(d, Skip):
            deferred.append(lifecycle.skip(by_id[d.contact_id], d.reason))
    counters = after_dials(snapshot.campaign.pacing, snapshot.counters, [d.dial_at for d in dials])
    wake = planned.wake_at
    if routes:
        wake = _wake_for_lines(wake, now, routes, lines, blocked, bool(dials))
    used = sorted({c for d in dials if (c := d.attempt.connection_id) is not None and c in lines})
    return TickWrites(
        status=status,
        dials=tuple(dials),
        deferred=tuple(deferred),
        counters=counters,
        next_wake_at=wake,
        reasons=tuple(reasons),
        voicemail=snapshot.campaign.voicemail,
        lines={cid: lines[cid].counters for cid in used},
        callers=_caller_usage(dials, lines) if lines else {},
    )


def _caller_usage(
    dials: Sequence[Dial], lines: Mapping[str, Line]
) -> dict[tuple[str, str], CallerUsage]:
    """The usage after this step of each capped caller number that dialled in it."""
    usage: dict[tuple[str, str], CallerUsage] = {}
    for d in dials:
        line = lines.get(d.attempt.connection_id or "")
        number = d.attempt.caller_number
        if line is not None and number is not None and number in line.caller_usage:
            usage[(d.attempt.connection_id or "", number)] = line.caller_usage[number]
    return usage


def _book_route(
    routes: Sequence[routing.Route],
    lines: dict[str, Line],
    contact: Contact,
    at: datetime,
) -> tuple[str | None, str | None] | None:
    """The connection and caller number for the contact's dial at ``at``, and that
    connection's slot and number booked in ``lines``; None when no connection can carry it.

    The connection is chosen by weight among the routes whose connection is free then and
    has a caller number under its caps; the number is the contact's own while available,
    local first (``core.callers``).
    """

    if not routes:
        return None, None

    def caller(r: routing.Route) -> str | None:
        line = lines.get(r.connection_id)
        if line is None:  # unregistered: no limits of its own
            return callers.pick(r.caller_numbers, contact.id, contact.phone, NO_CAPS, {}, at)
        return line.caller_for(r.caller_numbers, contact.id, contact.phone, at)

    def carries(r: routing.Route) -> bool:
        line = lines.get(r.connection_id)
        if line is None:
            return True
        if not line.admits(at):
            return False
        return not (r.caller_numbers or line.caller_numbers) or caller(r) is not None

    route = routing.choose(routes, contact.id, carries)
    if route is None:
        return None
    shown = caller(route)
    line = lines.get(route.connection_id)
    if line is not None:
        lines[route.connection_id] = line.carrying(at, shown)
    return route.connection_id, shown


def _wake_for_lines(
    wake: datetime | None,
    now: datetime,
    routes: Sequence[routing.Route],
    lines: Mapping[str, Line],
    blocked: bool,
    dialled: bool,
) -> datetime | None:
    """When to plan again, given the campaign's connections (after this plan's dials).

    A plan that found every connection taken (``blocked``) looks again when one frees up,
    not at the plan's own wake-up (which may be "now", for the very contacts it could not
    place). A plan that took its turn on connections that are all rate-limited looks again
    a moment after they free up (``LINE_TURN``), so that a campaign that found them taken,
    which waits for exactly that moment, goes first: otherwise the campaign that plans
    first in every pass would take every slot of a shared connection. Nothing else a
    campaign waits for comes that soon but a window closing or the end time; the dials
    already booked were checked at their own slots, so only that status change can come
    a little later (at most a connection's spacing).
    """
    all_limited = bool(routes) and all(
        r.connection_id in lines and lines[r.connection_id].limits.spacing for r in routes
    )
    if not (blocked or (dialled and all_limited)):
        return wake
    free = min(
        (
            lines[r.connection_id].free_at(now, r.caller_numbers)
            for r in routes
            if r.connection_id in lines
        ),
        default=now + LINE_BUSY_WAIT,
    )
    if dialled:
        free += LINE_TURN
    return free if blocked or wake is None else max(wake, free)


def finisher(result: CallResult) -> Finish:
    """``finish`` with the call's result bound: what ``store.end_attempt`` takes."""
    return functools.partial(finish, result=result)


def _ended(attempt: Attempt, result: CallResult) -> Attempt:
    """``attempt`` as ``result`` says it ended."""
    return evolve(
        attempt,
        outcome=result.outcome,
        ended_at=result.ended_at,
        answered_at=result.answered_at,
        duration=result.duration,
        qualifiers=result.qualifiers,
        gateway_call_id=result.gateway_call_id or attempt.gateway_call_id,
        failure_reason=result.failure_reason,
        answered_by=result.answered_by,
        provider_code=result.provider_code,
    )


def finisher_without_retry(result: CallResult) -> Finish:
    """``finish_without_retry`` with the call's result bound (see ``finisher``)."""
    return functools.partial(finish_without_retry, result=result)


def finish_without_retry(
    campaign_status: CampaignStatus,  # noqa: ARG001 (the shape of every ``Finish``)
    config: Any,  # noqa: ARG001
    contact: Contact,
    history: Sequence[Attempt],  # noqa: ARG001
    attempt: Attempt,
    result: CallResult,
) -> tuple[Contact, Attempt]:
    """The contact's final state once ``attempt`` ended with ``result``, the retry policy
    left out: recording an end whose ``finish`` failed (``dispatch.ends``)."""
    return lifecycle.end_without_retry(contact, _ended(attempt, result))


def finish(
    campaign_status: CampaignStatus,
    config: Any,
    contact: Contact,
    history: Sequence[Attempt],
    attempt: Attempt,
    result: CallResult,
) -> tuple[Contact, Attempt]:
    """The contact's next state once ``attempt`` ended with ``result``.

    A contact whose campaign was cancelled while the call ran is cancelled rather than
    queued again; one whose campaign ended stays waiting, visibly unreached.
    """
    contact, ended = lifecycle.finish_attempt(config, contact, history, _ended(attempt, result))
    if campaign_status is CampaignStatus.CANCELLED and contact.state is ContactState.WAITING:
        contact = lifecycle.cancel(contact)
    return contact, ended
