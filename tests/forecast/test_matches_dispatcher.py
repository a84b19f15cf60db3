"""The forecast is the dispatcher: same campaign, same seed, the very same trace.

One side runs the real ``Dispatcher`` (what ``ringcast worker`` runs) with the simulator
gateway over SQLite or PostgreSQL, on an ``EventClock``; the other runs the forecast over
the in-memory store.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from ringcast import forecast
from ringcast.clock import EventClock
from ringcast.core.states import CampaignStatus
from ringcast.db.store import SqlStore
from ringcast.dispatch.loop import Dispatcher
from ringcast.forecast import report
from ringcast.forecast.drive import drive
from ringcast.gateways.simulator import SimulatorGateway
from ringcast.records import Campaign
from tests.forecast import scenarios
from tests.integration.factories import seed_account


def dispatcher_trace(store: SqlStore, s: scenarios.Scenario) -> list[report.TraceRow]:
    org_id, ws_id, agent_id = seed_account(store, s.start)
    new = s.new_campaign()
    campaign = Campaign(
        config=replace(new.config, id="real", status=CampaignStatus.SCHEDULED),
        org_id=org_id,
        workspace_id=ws_id,
        name=new.name,
        agent_id=agent_id,
        dialect=new.dialect,
        created_at=s.start,
        updated_at=s.start,
    )
    # the forecast's own contact ids, so that both sides draw the same calls
    contacts = forecast.build_contacts("real", s.recipients(), s.start)
    store.create_campaign(campaign, contacts)
    clock = EventClock(s.start)
    dispatcher = Dispatcher(store, clock)
    dispatcher.gateway = SimulatorGateway(s.model(), clock, dispatcher.report)
    asyncio.run(drive(dispatcher, clock, "real"))
    return report.trace(store.campaign_contacts("real"), store.campaign_attempts("real"))


@pytest.mark.parametrize("s", scenarios.ALL, ids=lambda s: s.name)
def test_forecast_trace_equals_the_real_dispatchers(engine, s: scenarios.Scenario) -> None:
    """Each scenario's forecast trace equals the one the real dispatcher leaves in the database."""
    real = dispatcher_trace(SqlStore(engine), s)
    predicted = s.run()
    assert predicted.violations() == []
    assert len(real) > s.contacts  # retries happened
    assert predicted.trace() == real
