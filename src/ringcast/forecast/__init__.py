"""Forecast a campaign: when it will finish, how many calls a day, how many reached.

``from_new_campaign`` starts from a body a client would send; ``from_store`` starts from a
stored campaign as it is now. Both run ``engine.run`` over an in-memory copy, so the real
campaign is never touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ringcast.core import compliance
from ringcast.core.model import Attempt, CampaignConfig, Contact, Schedule
from ringcast.core.states import CampaignStatus
from ringcast.core.step import uuid5_text
from ringcast.db.memory import MemoryStore
from ringcast.forecast import engine, report
from ringcast.gateways.simulator import OutcomeModel
from ringcast.records import Campaign
from ringcast.services.campaigns import NewCampaign, Recipient

CONTACT_NAMESPACE = uuid.UUID("0b5e3f0c-52a4-4d8e-9f3c-6a1de2b7c401")
FORECAST_CAMPAIGN_ID = "forecast"


@dataclass(frozen=True)
class Forecast:
    campaign: Campaign
    contacts: list[Contact]
    attempts: list[Attempt]
    run: engine.Run

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.campaign.config.schedule.weekly.zone)

    def trace(self) -> list[report.TraceRow]:
        return report.trace(self.contacts, self.attempts)

    def violations(self) -> list[str]:
        return report.violations(self.campaign.config, self.contacts, self.attempts)

    def summary(self) -> dict[str, Any]:
        figures = report.summary(
            self.campaign.config,
            self.contacts,
            self.attempts,
            start=self.run.started_at,
            stopped_at=self.run.stopped_at,
            deferred={reason: len(ids) for reason, ids in self.run.deferred.items()},
        )
        figures["violations"] = self.violations()
        return figures


_CONTACT_NAMESPACE_BYTES = CONTACT_NAMESPACE.bytes


def contact_id(index: int, phone: str) -> str:
    """Stable ids, so that the same inputs and seed give the same outcomes:
    ``str(uuid.uuid5(CONTACT_NAMESPACE, f"{index}:{phone}"))``."""
    return uuid5_text(_CONTACT_NAMESPACE_BYTES, f"{index}:{phone}")


def build_contacts(
    campaign_id: str, recipients: Sequence[Recipient], due_at: datetime
) -> list[Contact]:
    """The contacts a forecast calls, with ids that depend only on their place and phone."""
    return [
        Contact(
            id=contact_id(i, r.phone),
            campaign_id=campaign_id,
            phone=r.phone,
            next_due_at=due_at,
            context=dict(r.context),
            user_identifier=r.user_identifier,
        )
        for i, r in enumerate(recipients)
    ]


def from_new_campaign(
    new: NewCampaign,
    recipients: Sequence[Recipient],
    model: OutcomeModel,
    start: datetime,
    until: datetime | None = None,
    progress: engine.Progress | None = None,
) -> Forecast:
    """Create ``new`` at ``start`` in a private store and run it to the end."""
    campaign = Campaign(
        config=replace(
            _in_utc(new.config), id=FORECAST_CAMPAIGN_ID, status=CampaignStatus.SCHEDULED
        ),
        org_id=new.org_id,
        workspace_id=new.workspace_id,
        name=new.name,
        agent_id=new.agent_id,
        dialect=new.dialect,
        created_at=start,
        updated_at=start,
        extra=dict(new.extra),
    )
    with engine.without_cycle_collection():  # from the first contact made to the last row
        contacts = build_contacts(campaign.id, recipients, start)
        store = MemoryStore()
        store.create_campaign(campaign, contacts)
        run = engine.run(store, campaign.id, model, start, until, progress=progress)
        return _collect(store, campaign.id, run)


def _in_utc(config: CampaignConfig) -> CampaignConfig:
    """``config`` with its start and end as the same instants in ``datetime.UTC``.

    A parsed body's timestamps carry the parser's own UTC object; the planner compares
    them with every moment of the run, and two aware datetimes with different ``tzinfo``
    objects compare through both offsets, several times slower than with one.
    """
    schedule = config.schedule

    def utc(at: datetime | None) -> datetime | None:
        return at.astimezone(UTC) if at is not None and at.tzinfo is not UTC else at

    starts_at, ends_at = utc(schedule.starts_at), utc(schedule.ends_at)
    if starts_at is schedule.starts_at and ends_at is schedule.ends_at:
        return config
    return replace(config, schedule=Schedule(schedule.weekly, starts_at, ends_at))


def from_store(
    source: Any,
    campaign_id: str,
    model: OutcomeModel,
    now: datetime,
    until: datetime | None = None,
    horizon: timedelta = timedelta(days=366),
) -> Forecast:
    """Forecast a stored campaign from its state at ``now`` (calls in progress included)."""
    campaign = source.get_campaign(campaign_id)
    snapshot = source.load_snapshot(campaign_id, now, timedelta(0), 0)
    contacts = source.campaign_contacts(campaign_id)
    attempts = source.campaign_attempts(campaign_id)
    # the policy in force now, and what the organization's records say about the numbers
    org = source.get_organization(campaign.org_id)
    org_policy = org.calling_policy if org else None
    policy = compliance.effective_policy(campaign.config.policy, org_policy)
    campaign = replace(
        campaign,
        config=replace(
            campaign.config,
            policy=compliance.effective_policy_name(campaign.config.policy, org_policy),
        ),
    )
    facts = source.phone_facts(campaign.org_id, [k.phone for k in contacts], policy, now)
    store = MemoryStore()
    store.create_campaign(campaign, contacts)
    store.counters[campaign_id] = snapshot.counters
    store.load_phone_facts(campaign.org_id, facts, now)
    # The campaign's connections keep their limits; the forecast has them to itself (other
    # campaigns' calls on them end at moments it cannot know).
    for route in campaign.config.routes:
        known = source.get_connection(campaign.org_id, route.connection_id)
        if known is not None:
            store.put_connection(known)
    live = store.restore_attempts(campaign, attempts)
    run = engine.run(store, campaign_id, model, now, until or now + horizon, in_progress=live)
    return _collect(store, campaign_id, run)


def _collect(store: MemoryStore, campaign_id: str, run: engine.Run) -> Forecast:
    campaign = store.campaigns[campaign_id]
    return Forecast(
        campaign, store.campaign_contacts(campaign_id), store.campaign_attempts(campaign_id), run
    )
