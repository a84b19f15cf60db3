"""Small builders for stored values; every argument can be overridden."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from ringcast.core.model import CampaignConfig, Contact, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.records import Agent, AgentType, Campaign, Dialect

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)  # Monday 09:00 UTC


def new_id() -> str:
    return str(uuid.uuid4())


def seed_account(store: Any, now: datetime = T0) -> tuple[str, str, str]:
    """An organization, its default workspace and an outbound agent: their ids."""
    org = store.ensure_organization(new_id(), f"org-{uuid.uuid4().hex[:6]}", now)
    ws = store.ensure_workspace(new_id(), org.id, "default", now)
    agent = Agent(
        new_id(),
        org.id,
        "Reminder",
        AgentType.OUTBOUND,
        now,
        prompt_template="Hello {{ name }}",
        variables=("name",),
    )
    store.add_agent(agent)
    return org.id, ws.id, agent.id


def campaign(org_id: str, ws_id: str, agent_id: str, **over: Any) -> Campaign:
    config = CampaignConfig(
        id=over.pop("id", new_id()),
        status=over.pop("status", CampaignStatus.SCHEDULED),
        schedule=over.pop(
            "schedule",
            Schedule(
                WeeklyWindow(
                    "Europe/Paris",
                    (Slot(time(10), time(13)), Slot(time(14), time(20))),
                    days=frozenset(range(5)),
                ),
                starts_at=T0,
                ends_at=T0 + timedelta(days=30),
            ),
        ),
        pacing=over.pop(
            "pacing",
            PacingLimits(
                attempts_per_second=5, calls_per_day=100, max_concurrent=10, day_zone="Europe/Paris"
            ),
        ),
        retry=over.pop(
            "retry",
            RetryPolicy(
                max_retries=2,
                intervals=(timedelta(hours=1),),
                rules=(RetryRule("retry", frozenset({Outcome.NO_ANSWER, Outcome.BUSY})),),
            ),
        ),
    )
    values: dict[str, Any] = {
        "config": config,
        "org_id": org_id,
        "workspace_id": ws_id,
        "name": "Spring reminders",
        "agent_id": agent_id,
        "dialect": Dialect.VOLUBILE,
        "created_at": T0,
        "updated_at": T0,
        "extra": {"batchSize": 100},
    }
    values.update(over)
    return Campaign(**values)


#: the next number each campaign's contacts take: a campaign holds a number once (the
#: stores skip a repeat), while different campaigns still share the same numbers
_NEXT_NUMBER: dict[str, int] = {}


def contacts(campaign_id: str, n: int, due_at: datetime = T0, **over: Any) -> list[Contact]:
    first = _NEXT_NUMBER.get(campaign_id, 0)
    _NEXT_NUMBER[campaign_id] = first + n
    return [
        Contact(
            id=new_id(),
            campaign_id=campaign_id,
            phone=f"+3361{first + i:07d}",
            next_due_at=due_at,
            context={"name": f"Person {i}"},
            **over,
        )
        for i in range(n)
    ]
