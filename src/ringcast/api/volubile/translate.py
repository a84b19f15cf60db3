"""Volubile wire format <-> core values. Pure functions.

Choices where Volubile's documentation is silent or ambiguous (each a guess at what a
Volubile client expects; see README, "Volubile surface"):

* ``timeSlots`` are read in the campaign's ``timezone`` (default Europe/Paris), not UTC:
  the slots are clipped to French legal hours, which are local hours.
* ``scheduled`` and ``active`` both read ``ACTIVE``; ``ended`` reads ``CANCELLED`` (a
  Volubile campaign never ends by itself, and neither can be resumed).
* ``retryOn`` takes call statuses (``NO_ANSWER`` also covers busy lines) and, for any
  other string, qualifier labels the agent put on the call. For voicemail: ``VOICE_BOX``
  retries a call an answering machine took, and only that; ``NO_ANSWER`` does not cover
  it. ``REJECTED`` is the campaign asking for declined calls to be retried: they are
  retried on no other status.
* ``batchSize`` is the daily cap; a campaign with no cap (made through Sarvam) shows 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

from ringcast.api.volubile import schemas as w
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.outcomes import VOLUBILE_STATUS, VOLUBILE_STATUSES, outcomes_for_volubile_status
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import FRENCH_CALLING_SLOTS, WeeklyWindow, clip_slots
from ringcast.records import Agent, CallRecord, Campaign, Dialect
from ringcast.services.campaigns import NewCampaign, Recipient
from ringcast.services.direct_calls import Pending

DEFAULT_TIMEZONE = "Europe/Paris"
DAYS = list(w.Day)  # index = date.weekday()


def new_campaign(
    req: w.CreateCampaignRequest,
    org_id: str,
    workspace_id: str,
    actor: str,
    pacing_defaults: PacingLimits,
) -> NewCampaign:
    zone = req.timezone or DEFAULT_TIMEZONE
    weekly = WeeklyWindow(
        zone=zone,
        slots=clip_slots([s.slot() for s in req.timeSlots], FRENCH_CALLING_SLOTS),
        days=frozenset(DAYS.index(d) for d in req.days),
        first_date=req.startDate,
    )
    config = CampaignConfig(
        id="",
        status=CampaignStatus.SCHEDULED,
        schedule=Schedule(weekly),
        pacing=PacingLimits(
            attempts_per_second=pacing_defaults.attempts_per_second,
            calls_per_day=req.batchSize,
            max_concurrent=pacing_defaults.max_concurrent,
            day_zone=zone,
        ),
        retry=retry_policy(req.retry),
    )
    return NewCampaign(
        org_id=org_id,
        workspace_id=workspace_id,
        name=req.name,
        agent_id=req.agentId,
        agent_field="agentId",
        dialect=Dialect.VOLUBILE,
        config=config,
        recipients=[Recipient(r.phone, r.context or {}) for r in req.recipients or []],
        extra={
            "timeSlots": [s.model_dump() for s in req.timeSlots],
            "retry": (req.retry or w.Retry(max=0)).model_dump(),
        },
        created_by=actor,
    )


def retry_policy(retry: w.Retry | None) -> RetryPolicy:
    if retry is None or not retry.max:
        return RetryPolicy()
    statuses = [s for s in retry.retryOn or [] if s in VOLUBILE_STATUSES]
    qualifiers = [s for s in retry.retryOn or [] if s not in VOLUBILE_STATUSES]
    outcomes = frozenset(o for s in statuses for o in outcomes_for_volubile_status(s))
    return RetryPolicy(
        max_retries=retry.max,
        intervals=(timedelta(hours=retry.delay or 1),),
        rules=(RetryRule("retry", outcomes, frozenset(qualifiers)),),
    )


STATUS = {
    CampaignStatus.SCHEDULED: w.CampaignStatusValue.ACTIVE,
    CampaignStatus.ACTIVE: w.CampaignStatusValue.ACTIVE,
    CampaignStatus.PAUSED: w.CampaignStatusValue.PAUSED,
    CampaignStatus.CANCELLED: w.CampaignStatusValue.CANCELLED,
    CampaignStatus.ENDED: w.CampaignStatusValue.CANCELLED,
}


def campaign_response(c: Campaign) -> w.CampaignResponse:
    weekly = c.config.schedule.weekly
    if c.dialect is Dialect.VOLUBILE:
        slots = [w.TimeSlot(**s) for s in c.extra["timeSlots"]]
        retry = w.RetryView.of(w.Retry.model_construct(**c.extra["retry"]))
    else:
        slots = [
            w.TimeSlot(startTime=f"{s.start:%H:%M}", endTime=f"{s.end:%H:%M}") for s in weekly.slots
        ]
        retry = _retry_view(c.config.retry)
    start = weekly.first_date
    if start is None:
        at = c.config.schedule.starts_at or c.created_at
        start = at.astimezone(ZoneInfo(weekly.zone)).date()
    return w.CampaignResponse(
        id=c.id,
        name=c.name,
        agentId=c.agent_id,
        startDate=start,
        timeSlots=slots,
        batchSize=c.config.pacing.calls_per_day or 0,
        retry=retry,
        days=[DAYS[d] for d in sorted(weekly.days)],
        status=STATUS[c.config.status],
        timezone=weekly.zone,
    )


def _retry_view(policy: RetryPolicy) -> w.RetryView:
    """A Sarvam-made policy seen through Volubile's narrower Retry (max is capped at 3)."""
    if not policy.rules or policy.max_retries == 0:
        return w.RetryView.of(w.Retry(max=0))
    statuses = sorted({VOLUBILE_STATUS[o] for r in policy.rules for o in r.outcomes})
    qualifiers = sorted({q for r in policy.rules for q in r.qualifiers})
    delay_h = max(1, round(policy.intervals[0].total_seconds() / 3600)) if policy.intervals else 1
    return w.RetryView(max=min(policy.max_retries, 3), delay=delay_h, retryOn=statuses + qualifiers)


def agent_view(a: Agent) -> w.Agent:
    return w.Agent(
        id=a.id,
        name=a.name,
        type=a.type.value,
        active=a.active,
        recordable=a.recordable,
        archived=a.archived,
        telephonyConfiguration=w.TelephonyConfiguration(),
        configuration=w.AgentConfiguration(),
    )


def iso_z(at: datetime | None) -> str | None:
    """UTC as yyyy-MM-dd'T'HH:mm:ss.SSS'Z', the format of Volubile's timestamps."""
    if at is None:
        return None
    return (
        at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{at.microsecond // 1000:03d}Z"
    )


def call_view(call: CallRecord) -> w.Call:
    a = call.attempt
    qualifiers = sorted(a.qualifiers)
    extracted = dict(call.extracted)
    return w.Call(
        id=a.id,
        agentId=call.agent_id,
        phone=call.phone,
        status=VOLUBILE_STATUS[a.outcome],
        duration=None if a.duration is None else round(a.duration.total_seconds()),
        startTime=iso_z(a.answered_at or a.dialed_at),
        endTime=iso_z(a.ended_at),
        created=iso_z(call.created_at) or "",
        summary=call.summary,
        context={**call.context, "system.phone": call.phone},
        extractors=[w.NameValue(name=k, value=v) for k, v in extracted.items()],
        extractedData=extracted,
        classifiers=[w.Classifier(name="qualifier", value=q) for q in qualifiers],
        classificationData={"qualifier": qualifiers[0]} if qualifiers else {},
        campaignId=a.campaign_id,
        campaignName=call.campaign_name,
        answeredBy=_answered_by(a.answered_by),
        providerCode=a.provider_code,
    )


_ACTIONS = set(get_args(w.TranscriptEntry.model_fields["action"].annotation))
_ACTORS = set(get_args(w.TranscriptEntry.model_fields["actor"].annotation))
#: a runtime's ``role`` (``{"role", "text"}`` entries) -> (actor, action)
_ROLES = {
    "agent": ("AGENT", "AGENT_SPEAK"),
    "assistant": ("AGENT", "AGENT_SPEAK"),
    "user": ("HUMAN", "HUMAN_SPEAK"),
    "human": ("HUMAN", "HUMAN_SPEAK"),
}


def transcript_view(entries: Sequence[object]) -> list[w.TranscriptEntry]:
    """The stored transcript in Volubile's shape, whatever a runtime stored.

    Runtimes report their own entry shapes (``{"role", "text"}``, Retell's
    ``{"actor", "action", "time", "message"}``, ...): each object becomes an entry, with
    ``UNKNOWN`` where it does not say who spoke; anything that is not an object is left
    out, so one odd entry never makes the endpoint fail."""
    out = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        role_actor, role_action = _ROLES.get(str(entry.get("role", "")).lower(), ("UNKNOWN", None))
        actor = entry.get("actor")
        action = entry.get("action")
        message = entry.get("message", entry.get("text"))
        out.append(
            w.TranscriptEntry.model_validate(
                {
                    "action": action if action in _ACTIONS else role_action or "HUMAN_SPEAK",
                    "time": str(entry.get("time") or ""),
                    "actor": actor if actor in _ACTORS else role_actor,
                    "message": None if message is None else str(message),
                }
            )
        )
    return out


_ANSWERED_BY: dict[str, w.AnsweredBy] = {
    "human": "human",
    "machine": "machine",
    "fax": "fax",
    "unknown": "unknown",
}


def _answered_by(value: str | None) -> w.AnsweredBy | None:
    """The attempt's ``answered_by`` in the call object's vocabulary; a value a gateway
    should never give reads as ``unknown`` rather than failing the whole call object."""
    return None if value is None else _ANSWERED_BY.get(value, "unknown")


def pending_call_view(p: Pending) -> w.Call:
    """A direct call not dialled yet: it reads as in progress."""
    return w.Call(
        id=p.contact.id,
        agentId=p.campaign.agent_id,
        phone=p.contact.phone,
        status="IN_PROGRESS",
        created=iso_z(p.created_at) or "",
        context={**p.contact.context, "system.phone": p.contact.phone},
        campaignId=p.campaign.id,
        campaignName=p.campaign.name,
    )
