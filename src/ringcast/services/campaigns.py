"""Campaign use cases shared by the API surfaces: create, read, change status, add contacts.

Each surface translates its wire format into these calls and the results back; the
rules (agent must be an active outbound agent of the same organization, transitions,
tenancy) live here once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ringcast.clock import Clock
from ringcast.core.errors import InvalidTransition, NotFound, ValidationFailed
from ringcast.core.model import CampaignConfig, Contact
from ringcast.core.retry import check_policy
from ringcast.core.states import CampaignAction, CampaignStatus, apply_action
from ringcast.ports import Store
from ringcast.records import Agent, AgentType, Campaign, Dialect
from ringcast.services.cohort_rows import explicit_zone


@dataclass(frozen=True)
class Recipient:
    phone: str  #: E.164, already validated by the surface
    context: Mapping[str, Any] = field(default_factory=dict)
    user_identifier: str | None = None


@dataclass(frozen=True)
class NewCampaign:
    org_id: str
    workspace_id: str
    name: str
    agent_id: str
    #: the surface's name for the agent field, so an error names what the client sent
    agent_field: str
    dialect: Dialect
    config: CampaignConfig  #: id and status are set by ``create``
    recipients: Sequence[Recipient] = ()
    description: str | None = None
    agent_version: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    created_by: str | None = None


def new_id() -> str:
    return str(uuid.uuid4())


def create(store: Store, clock: Clock, new: NewCampaign) -> Campaign:
    """Store a new campaign, ``scheduled``, with its first contacts, all or nothing."""
    # every surface's schema bounds its own retry fields from the same constants; this is
    # the rule itself, for a path that has no schema (the CLI, a future surface)
    check_policy(new.config.retry)
    agent = store.get_agent(new.agent_id)
    check_agent(agent, new.org_id, new.agent_id, new.agent_field)
    now = clock.now()
    campaign = Campaign(
        config=replace(new.config, id=new_id(), status=CampaignStatus.SCHEDULED),
        org_id=new.org_id,
        workspace_id=new.workspace_id,
        name=new.name,
        agent_id=new.agent_id,
        dialect=new.dialect,
        created_at=now,
        updated_at=now,
        description=new.description,
        agent_version=new.agent_version if new.agent_version is not None else agent_version(agent),
        extra=dict(new.extra),
        created_by=new.created_by,
        updated_by=new.created_by,
    )
    store.create_campaign(campaign, contacts_for(campaign.id, new.recipients, now))
    return campaign


def agent_version(agent: Agent | None) -> int | None:
    return agent.version if agent else None


def check_agent(agent: Agent | None, org_id: str, agent_id: str, field_name: str) -> None:
    """The agent must exist in the organization, be active and place outbound calls."""
    if agent is None or agent.org_id != org_id:
        raise ValidationFailed.single(field_name, agent_id, "no agent with this id")
    if not agent.active or agent.archived:
        raise ValidationFailed.single(field_name, agent_id, "the agent is not active")
    if agent.type is not AgentType.OUTBOUND:
        raise ValidationFailed.single(field_name, agent_id, "the agent is not an OUTBOUND agent")


def contacts_for(campaign_id: str, recipients: Sequence[Recipient], now: datetime) -> list[Contact]:
    return [
        Contact(
            id=new_id(),
            campaign_id=campaign_id,
            phone=r.phone,
            next_due_at=now,
            context=dict(r.context),
            user_identifier=r.user_identifier,
            zone=explicit_zone(r.context),
        )
        for r in recipients
    ]


def get(store: Store, campaign_id: str, org_id: str, workspace_id: str | None = None) -> Campaign:
    """The campaign, if the caller's organization (and workspace, when given) owns it.

    Another tenant's campaign reads exactly like one that does not exist.
    """
    campaign = store.get_campaign(campaign_id)
    if (
        campaign is None
        or campaign.org_id != org_id
        or (workspace_id is not None and campaign.workspace_id != workspace_id)
    ):
        raise NotFound("campaign", campaign_id)
    return campaign


def act(
    store: Store, clock: Clock, campaign: Campaign, action: CampaignAction, by: str | None
) -> Campaign:
    """Apply pause, resume or cancel; cancelling also cancels every waiting contact (the
    store does both in one transaction: nobody is dialled after the cancel is seen)."""
    status = apply_action(campaign.config.status, action)
    store.set_campaign_status(campaign.id, status, clock.now(), by=by)
    refreshed = store.get_campaign(campaign.id)
    assert refreshed is not None  # we just wrote it
    return refreshed


def add_recipients(
    store: Store, clock: Clock, campaign: Campaign, recipients: Sequence[Recipient]
) -> list[Contact]:
    """Queue more contacts, only while the campaign can still call them; a number the
    campaign already has is not added again. Returns the contacts added."""
    if campaign.config.status.is_terminal:
        raise InvalidTransition(campaign.config.status.value, "add contacts to")
    contacts = contacts_for(campaign.id, recipients, clock.now())
    return store.add_contacts(campaign.id, contacts, clock.now())
