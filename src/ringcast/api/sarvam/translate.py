"""Sarvam wire format <-> core values. Pure functions.

Choices where Sarvam's documentation is silent (see README, "Sarvam surface"):

* ``retry_on``: ``busy``, ``no_answer`` and ``failed`` default to enabled, the others to
  disabled; a policy retries only while ``max_retries`` allows. ``provider_error`` and
  ``internal_error`` keep budgets and intervals of their own.
* Voicemail: Sarvam has no status for it; an answering machine reads ``no_answer``, so
  enabling ``no_answer`` retries voicemail too, and disabling it retries neither.
* A declined call reads ``busy``, yet ``busy`` does not retry it: a callee who declined
  is rung again only when the campaign asks (the native API's ``retry_on_rejected``).
* An empty ``retry_interval_minutes`` waits 30 minutes between retries.
* A campaign made through Volubile reads here with its earliest slot start and latest slot
  end as the allowed window, and no end timestamp.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from ringcast.api.sarvam import schemas as s
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.outcomes import SARVAM_RETRY_CONDITION, Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.records import Campaign, Cohort, Dialect, OutboxEntry
from ringcast.services.campaigns import NewCampaign
from ringcast.services.scheduling import CampaignEdit

DAYS = list(s.Weekday)  # index = date.weekday()
AGENT_FIELD = "app_config.app_id"


def weekly(schedule: s.AllowedScheduleConfig) -> WeeklyWindow:
    return WeeklyWindow(
        zone=schedule.timezone,
        slots=(Slot(s.hhmm(schedule.allowed_start_time), s.hhmm(schedule.allowed_end_time)),),
        days=frozenset(DAYS.index(d) for d in schedule.allowed_days),
    )


def config(
    app: s.AgentConfig,
    schedule: s.AllowedScheduleConfig,
    starts_at: datetime | None,
    ends_at: datetime | None,
    max_concurrent: int | None,
) -> CampaignConfig:
    return CampaignConfig(
        id="",
        status=CampaignStatus.SCHEDULED,
        schedule=Schedule(weekly(schedule), starts_at=starts_at, ends_at=ends_at),
        pacing=PacingLimits(
            attempts_per_second=app.attempts_per_second,
            max_concurrent=max_concurrent,
            day_zone=schedule.timezone,
        ),
        retry=retry_policy(app.retry_config),
        routes=tuple(
            Route(c.connection_id, tuple(c.phone_numbers), c.weight) for c in app.connection_configs
        ),
    )


def retry_policy(rc: s.RetryConfig) -> RetryPolicy:
    minutes = rc.retry_interval_minutes
    waits = minutes if isinstance(minutes, list) else [minutes]
    rules: list[RetryRule] = []
    on = rc.retry_on
    if on.short_duration.enabled:
        rules.append(
            RetryRule(
                "short_duration_retry",
                shorter_than=timedelta(seconds=on.short_duration.threshold_seconds),
            )
        )
    plain: frozenset[Outcome] = frozenset()
    for name, switch in (("busy", on.busy), ("no_answer", on.no_answer), ("failed", on.failed)):
        if switch.enabled:
            plain |= SARVAM_RETRY_CONDITION[name]
    if plain:
        rules.append(RetryRule("retry", plain))
    for name, err in (("provider_error", on.provider_error), ("internal_error", on.internal_error)):
        if err.enabled:
            rules.append(
                RetryRule(
                    f"{name}_retry",
                    SARVAM_RETRY_CONDITION[name],
                    max_retries=err.max_retries,
                    intervals=(timedelta(minutes=err.retry_interval_minutes),),
                )
            )
    return RetryPolicy(
        max_retries=rc.max_retries,
        intervals=tuple(timedelta(minutes=m) for m in waits),
        rules=tuple(rules),
    )


def new_campaign(
    req: s.CampaignCreateRequest, org_id: str, workspace_id: str, actor: str
) -> NewCampaign:
    return NewCampaign(
        org_id=org_id,
        workspace_id=workspace_id,
        name=req.name,
        description=req.description,
        agent_id=req.app_config.app_id,
        agent_version=req.app_config.app_version,
        agent_field=AGENT_FIELD,
        dialect=Dialect.SARVAM,
        config=config(
            req.app_config, req.allowed_schedule, req.start_timestamp, req.end_timestamp, None
        ),
        extra=extra(req.app_config, req.allowed_schedule, req.webhook_config),
        created_by=actor,
    )


def edit(campaign: Campaign, body: s.CampaignUpdateRequest) -> CampaignEdit:
    """The campaign's settings once ``body`` is applied: what it names replaces, the rest
    stays as it is."""
    current = detail(campaign)
    app = body.app_config or current.app_config
    schedule = body.allowed_schedule or current.allowed_schedule
    stored_hook = campaign.extra.get("webhook_config")
    hook = s.WebhookConfig.model_validate(stored_hook) if stored_hook else None
    was = campaign.config.schedule
    return CampaignEdit(
        name=body.name or campaign.name,
        description=body.description if body.description is not None else campaign.description,
        agent_id=app.app_id,
        agent_version=app.app_version or campaign.agent_version,
        agent_field=AGENT_FIELD,
        config=config(
            app,
            schedule,
            was.starts_at,
            body.end_timestamp or was.ends_at,
            campaign.config.pacing.max_concurrent,
        ),
        extra=extra(app, schedule, app.webhook_config or hook),
        new_end=body.end_timestamp,
        names_agent=body.app_config is not None,
        named_version=app.app_version,
    )


def extra(
    app: s.AgentConfig, schedule: s.AllowedScheduleConfig, webhook: s.WebhookConfig | None
) -> dict[str, Any]:
    """What GET echoes back and dispatch reads (connections, webhook), as sent."""
    hook = webhook or app.webhook_config
    return {
        "app_config": app.model_dump(mode="json"),
        "allowed_schedule": schedule.model_dump(mode="json"),
        "webhook_config": hook.model_dump(mode="json") if hook else None,
    }


def metadata(c: Campaign) -> s.CampaignMetadata:
    return s.CampaignMetadata(
        name=c.name,
        campaign_id=c.id,
        status=s.Status(c.config.status.value),
        app_id=c.agent_id,
        created_by=c.created_by or "",
        created_at=c.created_at,
        updated_at=c.updated_at,
        description=c.description,
        app_version=c.agent_version,
        updated_by=c.updated_by,
    )


def detail(c: Campaign) -> s.CampaignDetail:
    if c.dialect is Dialect.SARVAM:
        app = s.AgentConfig.model_validate(c.extra["app_config"])
        schedule = s.AllowedScheduleConfig.model_validate(c.extra["allowed_schedule"])
        hook = c.extra.get("webhook_config")
        webhook = s.WebhookConfig.model_validate(hook) if hook else None
    else:
        app, schedule, webhook = _derived_app_config(c), _derived_schedule(c), None
    return s.CampaignDetail(
        **metadata(c).model_dump(),
        app_config=app,
        start_timestamp=c.config.schedule.starts_at,
        end_timestamp=c.config.schedule.ends_at,
        allowed_schedule=schedule,
        webhook_config=webhook,
    )


def _derived_schedule(c: Campaign) -> s.AllowedScheduleConfig:
    w = c.config.schedule.weekly
    start = min((x.start for x in w.slots), default=time(0))
    end = max((x.end for x in w.slots), default=time(23, 59))
    return s.AllowedScheduleConfig(
        allowed_start_time=f"{start:%H:%M}",
        allowed_end_time=f"{end:%H:%M}",
        allowed_days=[DAYS[d] for d in sorted(w.days)],
        timezone=w.zone,
    )


def _derived_app_config(c: Campaign) -> s.AgentConfig:
    policy = c.config.retry
    covered = {o for r in policy.rules for o in r.outcomes}
    on = s.RetryOn(
        busy=s.RetrySwitch(enabled=bool(SARVAM_RETRY_CONDITION["busy"] & covered)),
        no_answer=s.RetrySwitch(enabled=bool(SARVAM_RETRY_CONDITION["no_answer"] & covered)),
        failed=s.RetrySwitch(enabled=bool(SARVAM_RETRY_CONDITION["failed"] & covered)),
    )
    return s.AgentConfig(
        app_id=c.agent_id,
        app_version=c.agent_version,
        attempts_per_second=c.config.pacing.attempts_per_second or 500,
        retry_config=s.RetryConfig(
            max_retries=policy.max_retries,
            retry_on=on,
            retry_interval_minutes=[i.total_seconds() / 60 for i in policy.intervals],
        ),
    )


def cohort(c: Cohort) -> s.Cohort:
    return s.Cohort(
        name=c.name,
        cohort_id=c.id,
        status=c.status,
        source_type=c.source_type,
        result=s.CohortResult(
            total_records=c.total_records,
            valid_records=c.valid_records,
            rejected_records=c.rejected_records,
        ),
        failure_reason=c.failure_reason,
        created_by=c.created_by,
        created_at=c.created_at,
        updated_at=c.updated_at,
        updated_by=c.updated_by,
    )


def delivery(e: OutboxEntry) -> s.WebhookDelivery:
    return s.WebhookDelivery(
        attempt_id=e.attempt_id,
        event_type=e.event_type,
        status=e.status,
        deliveries=e.deliveries,
        last_status_code=e.last_status_code,
        created_at=e.created_at,
        delivered_at=e.delivered_at,
    )
