"""Campaigns under the scheduling API's rules (the Sarvam surface).

Sarvam documents limits the Volubile surface does not have: a campaign starts a few
minutes to a few days ahead and runs for a bounded time; a workspace has at most so many
scheduled or active campaigns; a campaign changes only while it is paused or scheduled.
Each use case here checks its rules and then makes its one write, so a refused request
changes nothing. The limits are configurable (``RINGCAST_SARVAM_*``). Errors name the
fields as the scheduling API's clients sent them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from ringcast.clock import Clock
from ringcast.config import Settings
from ringcast.core.errors import Conflict, InvalidTransition, ValidationFailed
from ringcast.core.model import CampaignConfig
from ringcast.core.retry import check_policy
from ringcast.core.states import CampaignAction, CampaignStatus
from ringcast.ports import CampaignQueries, Store
from ringcast.records import Campaign
from ringcast.services import campaigns, webhooks
from ringcast.services.campaigns import NewCampaign

#: the statuses in which a campaign's settings may change
EDITABLE = frozenset({CampaignStatus.PAUSED, CampaignStatus.SCHEDULED})
VERSION_FIELD = "app_config.app_version"


class SchedulingStore(Store, CampaignQueries, Protocol):
    """A store that can also count a workspace's live campaigns."""


@dataclass(frozen=True)
class Limits:
    """Sarvam's documented campaign limits, in the units its settings use."""

    min_lead_s: float
    max_lead_days: float
    min_duration_s: float
    max_duration_days: float
    max_live_campaigns: int
    #: let webhook URLs reach private addresses (``RINGCAST_WEBHOOKS_ALLOW_PRIVATE``)
    allow_private: bool = False

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            min_lead_s=settings.sarvam_min_lead_s,
            max_lead_days=settings.sarvam_max_lead_days,
            min_duration_s=settings.sarvam_min_duration_s,
            max_duration_days=settings.sarvam_max_duration_days,
            max_live_campaigns=settings.sarvam_max_live_campaigns,
            allow_private=settings.webhooks_allow_private,
        )


@dataclass(frozen=True)
class CampaignEdit:
    """A campaign's settings after a change, translated from the request, and which of
    them the request named (only those are checked again)."""

    name: str
    description: str | None
    agent_id: str
    agent_version: int | None
    #: the surface's name for the agent field, so an error names what the client sent
    agent_field: str
    config: CampaignConfig  #: its id and status are kept from the campaign
    extra: Mapping[str, Any]
    #: the end the request names, if it names one
    new_end: datetime | None = None
    #: whether the request names an agent: it must then be usable, and ``named_version``
    #: (the version the request names, if any) one it has
    names_agent: bool = False
    named_version: int | None = None


def create(store: SchedulingStore, clock: Clock, new: NewCampaign, limits: Limits) -> Campaign:
    """Create a campaign that starts and ends within the limits, if the workspace has room."""
    schedule = new.config.schedule
    check_window(limits, clock.now(), schedule.starts_at, schedule.ends_at, creating=True)
    check_version(store, new.org_id, new.agent_id, new.agent_version)
    check_live_limit(store, limits, new.workspace_id)
    check_webhook(new.extra, None, limits)
    return campaigns.create(store, clock, new)


def check_webhook(extra: Mapping[str, Any], was: Mapping[str, Any] | None, limits: Limits) -> None:
    """A campaign's webhook URL, new or changed, must reach a public address."""
    url = _webhook_url(extra)
    if url is not None and url != _webhook_url(was or {}):
        webhooks.require_public("webhook_config.url", url, limits.allow_private)


def _webhook_url(extra: Mapping[str, Any]) -> str | None:
    hook = extra.get("webhook_config")
    url = hook.get("url") if isinstance(hook, Mapping) else None
    return url if isinstance(url, str) else None


def update(
    store: SchedulingStore,
    clock: Clock,
    campaign: Campaign,
    edit: CampaignEdit,
    limits: Limits,
    by: str | None,
) -> Campaign:
    """Change a paused or scheduled campaign's settings (never its status)."""
    status = campaign.config.status
    if status not in EDITABLE:
        raise InvalidTransition(status.value, "update (allowed while paused or scheduled)")
    check_policy(edit.config.retry)  # the same bounds as a created campaign's
    now = clock.now()
    check_window(limits, now, campaign.config.schedule.starts_at, edit.new_end, creating=False)
    if edit.names_agent:
        agent = store.get_agent(edit.agent_id)
        campaigns.check_agent(agent, campaign.org_id, edit.agent_id, edit.agent_field)
        check_version(store, campaign.org_id, edit.agent_id, edit.named_version)
    check_webhook(edit.extra, campaign.extra, limits)
    updated = replace(
        campaign,
        name=edit.name,
        description=edit.description,
        agent_id=edit.agent_id,
        agent_version=edit.agent_version,
        config=replace(edit.config, id=campaign.id, status=status),
        extra=dict(edit.extra),
        updated_at=now,
        updated_by=by,
    )
    store.update_campaign(updated)
    return updated


def act(
    store: SchedulingStore,
    clock: Clock,
    campaign: Campaign,
    action: CampaignAction,
    by: str | None,
    limits: Limits,
) -> Campaign:
    """Pause, resume or cancel; a paused campaign resumes only if the workspace has room."""
    if action is CampaignAction.RESUME and campaign.config.status is CampaignStatus.PAUSED:
        check_live_limit(store, limits, campaign.workspace_id)
    return campaigns.act(store, clock, campaign, action, by)


def check_window(
    limits: Limits,
    now: datetime,
    start: datetime | None,
    end: datetime | None,
    *,
    creating: bool,
) -> None:
    """The start is far enough ahead (on creation), the run long enough and not too long,
    and a new end is still to come (on update)."""
    if creating and start is not None:
        _check_lead(limits, now, start)
    if start is not None and end is not None:
        _check_duration(limits, start, end)
    if not creating and end is not None and end <= now:
        raise ValidationFailed.single("end_timestamp", end.isoformat(), "must be in the future")


def _check_lead(limits: Limits, now: datetime, start: datetime) -> None:
    if start < now + timedelta(seconds=limits.min_lead_s):
        raise ValidationFailed.single(
            "start_timestamp",
            start.isoformat(),
            f"must be at least {limits.min_lead_s:g} seconds from now",
        )
    if start > now + timedelta(days=limits.max_lead_days):
        raise ValidationFailed.single(
            "start_timestamp",
            start.isoformat(),
            f"must be at most {limits.max_lead_days:g} days from now",
        )


def _check_duration(limits: Limits, start: datetime, end: datetime) -> None:
    if end < start + timedelta(seconds=limits.min_duration_s):
        raise ValidationFailed.single(
            "end_timestamp",
            end.isoformat(),
            f"must be {limits.min_duration_s:g} seconds or more after start_timestamp",
        )
    if end > start + timedelta(days=limits.max_duration_days):
        raise ValidationFailed.single(
            "end_timestamp",
            end.isoformat(),
            f"must be at most {limits.max_duration_days:g} days after start_timestamp",
        )


def check_live_limit(store: SchedulingStore, limits: Limits, workspace_id: str) -> None:
    """The workspace has room for one more scheduled or active campaign."""
    if store.count_live_campaigns(workspace_id) >= limits.max_live_campaigns:
        raise Conflict(
            f"the workspace already has {limits.max_live_campaigns} scheduled or active "
            "campaigns; pause, cancel or finish one first"
        )


def check_version(store: Store, org_id: str, agent_id: str, version: int | None) -> None:
    """A named version of the organization's agent must exist.

    An unknown agent, and another organization's, are ``check_agent``'s to refuse, with
    the same answer: asking for a version of another tenant's agent must not tell whether
    that agent exists, nor how many versions it has."""
    agent = store.get_agent(agent_id)
    if agent is None or agent.org_id != org_id:
        return
    if version is not None and version > agent.version:
        raise ValidationFailed.single(VERSION_FIELD, version, f"the agent has no version {version}")
