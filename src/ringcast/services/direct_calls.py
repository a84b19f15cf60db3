"""One call to one person outside any campaign (Volubile's POST /v1/calls).

A direct call is a contact in a hidden campaign per agent that is always open and never
retries, so it goes through the same planner, pacing and dispatch as everything else.
The id handed back is the contact's: before the first dial it reads as a pending call,
afterwards as that call. The hidden campaign is made by the first call to the agent; the
store keeps it unique, so first calls racing each other share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Protocol

from ringcast.clock import Clock
from ringcast.core.errors import NotFound
from ringcast.core.model import CampaignConfig, Contact, Schedule
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.ports import CallLog, Store
from ringcast.records import HIDDEN_MARKER, Agent, CallRecord, Campaign, Dialect
from ringcast.services import campaigns

ALWAYS = WeeklyWindow("UTC", (Slot(time(0), time.max),))
DIRECT = HIDDEN_MARKER  # marks the hidden campaign in ``extra``


@dataclass(frozen=True)
class DirectCall:
    org_id: str
    workspace_id: str
    actor: str
    agent_id: str
    agent_field: str
    phone: str
    context: Mapping[str, Any]


@dataclass(frozen=True)
class Pending:
    contact: Contact
    campaign: Campaign
    created_at: datetime


class DirectCallStore(Store, CallLog, Protocol):
    """A store that can also read calls back."""


def place(store: DirectCallStore, clock: Clock, call: DirectCall, pacing: PacingLimits) -> Pending:
    agent = store.get_agent(call.agent_id)
    campaigns.check_agent(agent, call.org_id, call.agent_id, call.agent_field)
    campaign = store.ensure_direct_campaign(_hidden_campaign(call, pacing, agent, clock))
    (contact,) = campaigns.add_recipients(
        store, clock, campaign, [campaigns.Recipient(call.phone, call.context)]
    )
    return Pending(contact, campaign, clock.now())


def _hidden_campaign(
    call: DirectCall, pacing: PacingLimits, agent: Agent | None, clock: Clock
) -> Campaign:
    """The agent's hidden campaign as ``campaigns.create`` would make it (no contacts)."""
    now = clock.now()
    return Campaign(
        config=CampaignConfig(
            campaigns.new_id(), CampaignStatus.SCHEDULED, Schedule(ALWAYS), pacing, RetryPolicy()
        ),
        org_id=call.org_id,
        workspace_id=call.workspace_id,
        name="Direct calls",
        agent_id=call.agent_id,
        dialect=Dialect.NATIVE,
        created_at=now,
        updated_at=now,
        agent_version=campaigns.agent_version(agent),
        extra={DIRECT: call.agent_id},
        created_by=call.actor,
        updated_by=call.actor,
    )


def find(store: DirectCallStore, org_id: str, call_id: str) -> CallRecord | Pending:
    """A call by its attempt id, or a direct call by the id ``place`` returned."""
    call = store.get_call(call_id)
    if call is not None and call.org_id == org_id:
        return call
    contact = store.get_contact(call_id)
    campaign = store.get_campaign(contact.campaign_id) if contact else None
    if (
        contact is None
        or campaign is None
        or campaign.org_id != org_id
        or DIRECT not in campaign.extra
    ):
        raise NotFound("call", call_id)
    attempts = store.attempts_of(contact.id)
    if attempts:
        latest = store.get_call(attempts[-1].id)
        if latest is not None:
            return latest
    # a never-dialled contact is due from the moment it was added
    return Pending(contact, campaign, contact.next_due_at or campaign.created_at)
