"""Rows <-> values: every conversion between the tables' rows and the values the rest
of ringcast uses (core values and stored records), and nothing else.

Reading: one function per value, named after it, taking a row (``campaign(row)``).
Writing: ``*_values`` functions giving the columns a value is stored in. The campaign's
core configuration is JSON in ``campaigns.config`` (``db.config_json``), but for the
columns of its own (id, status, span).

Secrets (the organization's webhook secrets, a connection's credentials) are sealed here
on the way in and opened here on the way out, with the store's ``SecretBox``: every
consumer sees plaintext, the database only ever holds tokens (``ringcast.crypto``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ringcast.core.callers import CallerUsage
from ringcast.core.lines import Line
from ringcast.core.model import (
    Attempt,
    Contact,
    ContactState,
)
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingCounters, PacingLimits
from ringcast.crypto import SecretBox
from ringcast.db import tables as t
from ringcast.db.config_json import config_from_json, config_to_json
from ringcast.records import (
    HIDDEN_MARKER,
    SECRET_SETTINGS,
    Agent,
    AgentType,
    ApiKey,
    CallRecord,
    Campaign,
    Cohort,
    Connection,
    Dialect,
    DoNotCall,
    Organization,
    OutboxEntry,
    PendingDelivery,
    Workspace,
    caller_caps,
)
from ringcast.webhooks.outbox import NewDelivery

Json = dict[str, Any]
Row = sa.Row[Any]

#: The state column of an attempt in progress, and of one that ended.
DIALING = "dialing"
ENDED = "ended"


def fields(record: Any) -> dict[str, Any]:
    """A record stored column for column (its fields are the table's columns)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


# --- secrets ----------------------------------------------------------------------------
def sealed(box: SecretBox, secret: str | None) -> str | None:
    """A secret as stored."""
    return None if secret is None else box.seal(secret)


def opened(box: SecretBox, stored: str | None) -> str | None:
    """A stored secret in plaintext (one written before encryption reads as it is)."""
    return None if stored is None else box.open(stored)


def settings_secrets(settings: Mapping[str, Any], change: Callable[[str], str]) -> Json:
    """``settings`` with ``change`` applied to each ``SECRET_SETTINGS`` text, at any depth
    (a gateway may keep its settings flat or under its own name)."""
    out: Json = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out[key] = settings_secrets(value, change)
        elif key in SECRET_SETTINGS and isinstance(value, str):
            out[key] = change(value)
        else:
            out[key] = value
    return out


# --- accounts ---------------------------------------------------------------------------
def organization(row: Row, box: SecretBox) -> Organization:
    return Organization(
        row.id,
        row.name,
        row.created_at,
        row.disabled,
        row.webhook_url,
        opened(box, row.webhook_secret),
        row.calling_policy,
    )


def workspace(row: Row) -> Workspace:
    return Workspace(row.id, row.org_id, row.name, row.is_default, row.created_at)


def api_key(row: Row) -> ApiKey:
    return ApiKey(**row._mapping)


def agent(row: Row) -> Agent:
    """An agent joined with its latest version (see ``sql.accounts``)."""
    return Agent(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        type=AgentType(row.type),
        created_at=row.created_at,
        version=row.version,
        prompt_template=row.prompt_template,
        variables=tuple(row.variables),
        active=row.active,
        recordable=row.recordable,
        archived=row.archived,
    )


def agent_values(a: Agent) -> dict[str, Any]:
    return {
        "id": a.id,
        "org_id": a.org_id,
        "name": a.name,
        "type": a.type.value,
        "active": a.active,
        "recordable": a.recordable,
        "archived": a.archived,
        "created_at": a.created_at,
    }


def agent_version_values(version_id: str, a: Agent) -> dict[str, Any]:
    return {
        "id": version_id,
        "agent_id": a.id,
        "version": a.version,
        "prompt_template": a.prompt_template,
        "variables": list(a.variables),
        "created_at": a.created_at,
    }


# --- campaigns, contacts, cohorts -----------------------------------------------------------
def campaign(row: Row) -> Campaign:
    return Campaign(
        config=config_from_json(row.id, row.status, row.config, row.starts_at, row.ends_at),
        org_id=row.org_id,
        workspace_id=row.workspace_id,
        name=row.name,
        agent_id=row.agent_id,
        dialect=Dialect(row.dialect),
        created_at=row.created_at,
        updated_at=row.updated_at,
        description=row.description,
        agent_version=row.agent_version,
        extra=row.extra,
        created_by=row.created_by,
        updated_by=row.updated_by,
    )


def campaign_values(c: Campaign) -> dict[str, Any]:
    """The columns a campaign's own fields are stored in (not its status or counters)."""
    cfg = c.config
    return {
        "name": c.name,
        "description": c.description,
        "agent_id": c.agent_id,
        "agent_version": c.agent_version,
        "config": config_to_json(cfg),
        "extra": dict(c.extra),
        # the unique key of a hidden direct-calls campaign: its agent (None for the others)
        "direct_calls_of_agent": c.extra.get(HIDDEN_MARKER),
        "timezone": cfg.schedule.weekly.zone,
        "starts_at": cfg.schedule.starts_at,
        "ends_at": cfg.schedule.ends_at,
        "updated_by": c.updated_by,
        "updated_at": c.updated_at,
    }


def new_campaign_values(c: Campaign) -> dict[str, Any]:
    """A new campaign's row: its fields, its status, and a wake-up at once."""
    return {
        **campaign_values(c),
        "id": c.id,
        "org_id": c.org_id,
        "workspace_id": c.workspace_id,
        "status": c.config.status.value,
        "dialect": c.dialect.value,
        "created_by": c.created_by,
        "created_at": c.created_at,
        "next_wake_at": c.created_at,
    }


def counters(row: Row) -> PacingCounters:
    """A campaign's pacing counters, from its row."""
    return PacingCounters(
        in_flight=row.in_flight,
        next_slot_at=row.next_slot_at,
        day=row.day,
        dialed_today=row.dialed_today,
    )


def counters_values(c: PacingCounters) -> dict[str, Any]:
    return {
        "next_slot_at": c.next_slot_at,
        "day": c.day,
        "dialed_today": c.dialed_today,
        "in_flight": c.in_flight,
    }


def contact(row: Row) -> Contact:
    return Contact(
        id=row.id,
        campaign_id=row.campaign_id,
        phone=row.phone,
        state=ContactState(row.state),
        next_due_at=row.next_due_at,
        attempts=row.attempts,
        context=row.context,
        reason=row.reason,
        user_identifier=row.user_identifier,
        cohort_id=row.cohort_id,
        zone=row.timezone,
    )


def new_contact_values(org_id: str, k: Contact, now: datetime) -> dict[str, Any]:
    return {
        "id": k.id,
        "campaign_id": k.campaign_id,
        "org_id": org_id,
        "phone": k.phone,
        "user_identifier": k.user_identifier,
        "cohort_id": k.cohort_id,
        "context": dict(k.context),
        "state": k.state.value,
        "next_due_at": k.next_due_at,
        "attempts": k.attempts,
        "reason": k.reason,
        "timezone": k.zone,
        "created_at": now,
        "updated_at": now,
    }


def contact_state_values(k: Contact, at: datetime | None) -> dict[str, Any]:
    """The columns a contact's move writes (keyed by ``id``, for the bulk updates)."""
    return {
        "id": k.id,
        "state": k.state.value,
        "next_due_at": k.next_due_at,
        "reason": k.reason,
        "updated_at": at,
    }


def dialing_values(k: Contact, at: datetime) -> dict[str, Any]:
    """A contact being dialled (keyed by ``id``): out of the queue, one attempt more."""
    return {
        "id": k.id,
        "state": ContactState.DIALING.value,
        "next_due_at": None,
        "attempts": k.attempts,
        "reason": None,
        "updated_at": at,
    }


def cohort(row: Row) -> Cohort:
    """A cohort as the surfaces show it (its job lease is the job runner's business)."""
    return Cohort(**{f.name: row._mapping[f.name] for f in dataclasses.fields(Cohort)})


# --- attempts and calls -------------------------------------------------------------------
def attempt(row: Row) -> Attempt:
    return Attempt(
        id=row.id,
        contact_id=row.contact_id,
        campaign_id=row.campaign_id,
        number=row.number,
        due_at=row.due_at,
        dialed_at=row.dialed_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        outcome=Outcome(row.outcome),
        duration=None if row.duration_s is None else timedelta(seconds=row.duration_s),
        qualifiers=frozenset(row.qualifiers),
        retry_rule=row.retry_rule,
        connection_id=row.connection_id,
        caller_number=row.caller_number,
        gateway_call_id=row.gateway_call_id,
        failure_reason=row.failure_reason,
        answered_by=row.answered_by,
        provider_code=row.provider_code,
        variables=row.variables or {},
        dropped_variables=tuple(row.dropped_variables or ()),
    )


def new_attempt_values(org_id: str, k: Contact, a: Attempt) -> dict[str, Any]:
    """A dialled attempt's row: in progress, with the number it calls."""
    return {
        "id": a.id,
        "contact_id": a.contact_id,
        "campaign_id": a.campaign_id,
        "org_id": org_id,
        "phone": k.phone,
        "number": a.number,
        "state": DIALING,
        "outcome": a.outcome.value,
        "due_at": a.due_at,
        "dialed_at": a.dialed_at,
        "qualifiers": [],
        "connection_id": a.connection_id,
        "caller_number": a.caller_number,
        "variables": dict(a.variables),
        "dropped_variables": list(a.dropped_variables),
        "created_at": a.dialed_at or a.due_at,
    }


#: The columns an attempt's end writes, those of what the person said included.
ENDED_COLUMNS = (
    "state",
    "outcome",
    "answered_at",
    "ended_at",
    "duration_s",
    "qualifiers",
    "retry_rule",
    "gateway_call_id",
    "failure_reason",
    "answered_by",
    "provider_code",
    "transcript",
    "summary",
    "extracted",
)


def ended_values(a: Attempt, said: Mapping[str, Any]) -> dict[str, Any]:
    """An attempt's end (keyed by ``id``), with ``said``: the transcript, summary and
    extracted variables the gateway reported (absent ones written as NULL)."""
    return {
        "id": a.id,
        **dict.fromkeys(ENDED_COLUMNS),
        "state": ENDED,
        "outcome": a.outcome.value,
        "answered_at": a.answered_at,
        "ended_at": a.ended_at,
        "duration_s": None if a.duration is None else a.duration.total_seconds(),
        "qualifiers": sorted(a.qualifiers),
        "retry_rule": a.retry_rule,
        "gateway_call_id": a.gateway_call_id,
        "failure_reason": a.failure_reason,
        "answered_by": _fitted(a.answered_by, t.attempts.c.answered_by),
        "provider_code": _fitted(a.provider_code, t.attempts.c.provider_code),
        **said,
    }


def _fitted(value: str | None, column: sa.Column[Any]) -> str | None:
    """``value`` cut to the column's length: a provider's unexpectedly long code must not
    make the call's end fail to be written (PostgreSQL refuses an overlong value)."""
    length = getattr(column.type, "length", None)
    return value if value is None or length is None else value[:length]


def call(row: Row) -> CallRecord:
    """An attempt joined with its campaign and contact (see ``sql.calls``)."""
    return CallRecord(
        attempt=attempt(row),
        org_id=row.org_id,
        agent_id=row.agent_id,
        campaign_name=row.campaign_name,
        phone=row.phone,
        context=row.contact_context,
        created_at=row.created_at,
        transcript=tuple(row.transcript or ()),
        summary=row.summary,
        extracted=row.extracted or {},
    )


# --- compliance and connections --------------------------------------------------------------
def do_not_call(row: Row) -> DoNotCall:
    return DoNotCall(row.phone, row.source, row.created_at)


def connection(row: Row, box: SecretBox) -> Connection:
    return Connection(
        org_id=row.org_id,
        id=row.id,
        name=row.name,
        gateway=row.gateway_kind,
        settings=settings_secrets(row.settings or {}, box.open),
        caller_numbers=tuple(row.caller_numbers or ()),
        max_attempts_per_second=row.max_attempts_per_second,
        max_concurrent=row.max_concurrent,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def connection_values(c: Connection, box: SecretBox) -> dict[str, Any]:
    """A connection's settings, its secrets sealed, and limits (not its key or its shared
    counters)."""
    return {
        "name": c.name,
        "gateway_kind": c.gateway,
        "settings": settings_secrets(c.settings, box.seal),
        "caller_numbers": list(c.caller_numbers),
        "max_attempts_per_second": c.max_attempts_per_second,
        "max_concurrent": c.max_concurrent,
        "updated_at": c.updated_at,
    }


def line(row: Row, usage: Mapping[str, CallerUsage]) -> Line:
    """A connection as the planner sees it: its limits and shared counters, and its caller
    numbers' caps and ``usage`` (``caller_usage``, by number)."""
    return Line(
        limits=PacingLimits(
            attempts_per_second=row.max_attempts_per_second, max_concurrent=row.max_concurrent
        ),
        counters=PacingCounters(in_flight=row.in_flight, next_slot_at=row.next_slot_at),
        caller_numbers=tuple(row.caller_numbers or ()),
        caller_caps=caller_caps(row.settings or {}),
        caller_usage=dict(usage),
    )


def caller_usage(row: Row) -> CallerUsage:
    """One caller number's dials in its latest hour and day (``caller_number_usage``)."""
    return CallerUsage(row.hour_start, row.in_hour, row.in_day)


def caller_usage_values(
    org_id: str, connection_id: str, number: str, u: CallerUsage
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "connection_id": connection_id,
        "number": number,
        "hour_start": u.hour,
        "in_hour": u.in_hour,
        "in_day": u.in_day,
    }


# --- the webhook outbox --------------------------------------------------------------------
def new_delivery_values(delivery_id: str, d: NewDelivery) -> dict[str, Any]:
    """A delivery to queue: pending, never sent, first due when its change happened."""
    return {
        "id": delivery_id,
        "org_id": d.org_id,
        "campaign_id": d.campaign_id,
        "attempt_id": d.attempt_id,
        "kind": d.kind,
        "event_type": d.event_type,
        "url": d.url,
        "payload": dict(d.payload),
        "status": "pending",
        "deliveries": 0,
        "next_attempt_at": d.at,
        "created_at": d.at,
    }


def pending_delivery(row: Row) -> PendingDelivery:
    return PendingDelivery(
        id=row.id,
        org_id=row.org_id,
        campaign_id=row.campaign_id,
        attempt_id=row.attempt_id,
        kind=row.kind,
        event_type=row.event_type,
        url=row.url,
        payload=row.payload,
        deliveries=row.deliveries,
    )


def outbox_entry(row: Row) -> OutboxEntry:
    return OutboxEntry(
        row.id,
        row.campaign_id,
        row.attempt_id,
        row.event_type,
        row.status,
        row.deliveries,
        row.last_status_code,
        row.created_at,
        row.delivered_at,
        url=row.url,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
    )
