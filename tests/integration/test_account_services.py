"""The services behind the dashboard's account pages, on SQLite and PostgreSQL: the
do-not-call search, connections' live load, webhook deliveries listed and retried."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from ringcast.core import step as tick
from ringcast.core.errors import NotFound, ValidationFailed
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.db import tables as t
from ringcast.db.sql.outbox import queue
from ringcast.db.store import SqlStore
from ringcast.records import Connection
from ringcast.services import compliance, connections, webhooks
from ringcast.webhooks.outbox import LIFECYCLE, NewDelivery
from tests.integration.factories import T0, campaign, contacts, seed_account


@pytest.fixture
def sql(engine: sa.Engine) -> SqlStore:
    return SqlStore(engine)


def test_do_not_call_search_matches_digits_within_the_organization(sql: SqlStore) -> None:
    """A search finds the organization's listed numbers containing its digits, whatever
    the spaces or signs typed; another organization's numbers are never found."""
    org, _, _ = seed_account(sql)
    other, _, _ = seed_account(sql)
    compliance.add_numbers(sql, org, ["+33612345678", "+33699887766", "+14155550123"], "t", T0)
    compliance.add_numbers(sql, other, ["+33612345679"], "t", T0)
    found, total = compliance.do_not_call_page(sql, org, "+33 6 12", 0, 10)
    assert [e.phone for e in found] == ["+33612345678"] and total == 1
    everything, total = compliance.do_not_call_page(sql, org, "  ", 0, 2)
    assert total == 3 and [e.phone for e in everything] == ["+14155550123", "+33612345678"]
    assert compliance.do_not_call_page(sql, org, "%", 0, 10)[1] == 3  # no digits: all
    assert compliance.do_not_call_page(sql, other, "6123456", 0, 10)[1] == 1


def test_calling_policy_is_read_and_set_through_one_service(sql: SqlStore) -> None:
    """The policy reads ``none`` until set; an unknown name is refused, naming the field."""
    org, _, _ = seed_account(sql)
    assert compliance.calling_policy(sql, org) == "none"
    assert compliance.set_calling_policy(sql, org, "fr") == "fr"
    assert compliance.calling_policy(sql, org) == "fr"
    with pytest.raises(ValidationFailed) as refused:
        compliance.set_calling_policy(sql, org, "mars")
    assert refused.value.errors[0].field == "policy"
    compliance.set_calling_policy(sql, org, "none")
    assert compliance.calling_policy(sql, org) == "none"


def _routed(sql: SqlStore, org: str, ws: str, agent: str, n: int):
    config = CampaignConfig(
        id="",
        status=CampaignStatus.SCHEDULED,
        schedule=Schedule(WeeklyWindow("UTC", (Slot(time(0), time(23, 59)),))),
        pacing=PacingLimits(attempts_per_second=50, max_concurrent=50),
        retry=RetryPolicy(),
        routes=(Route("trunk-a", ()),),
    )
    c = campaign(org, ws, agent)
    c = replace(c, config=replace(config, id=c.id))
    people = [replace(p, phone=f"+3361{i:07d}") for i, p in enumerate(contacts(c.id, n))]
    sql.create_campaign(c, people)
    return c


def test_live_load_counts_calls_in_progress_and_the_last_minutes_dials(sql: SqlStore) -> None:
    """A connection shows its calls in progress and its dials over the last minute as a
    rate; a connection with nothing on it shows zeros; another organization sees neither."""
    org, ws, agent = seed_account(sql)
    other, _, _ = seed_account(sql)
    for name in ("trunk-a", "trunk-idle"):
        sql.put_connection(Connection(org, name, name, "simulator", {}, (), 10.0, 4, T0, T0))
    c = _routed(sql, org, ws, agent, 6)
    horizon = timedelta(seconds=2)
    writes = sql.run_tick(c.id, T0, horizon, 500, lambda s, v: tick.decide(s, T0, horizon, v))
    assert writes is not None and 1 <= len(writes.dials) <= 4  # 4: the connection's cap
    dialled = len(writes.dials)
    now = T0 + timedelta(seconds=5)
    loads = {x.connection.id: x for x in connections.live_loads(sql, org, now)}
    assert loads["trunk-a"].in_flight == dialled
    assert loads["trunk-a"].attempts_per_second == pytest.approx(dialled / 60)
    assert loads["trunk-idle"].in_flight == 0 and loads["trunk-idle"].attempts_per_second == 0
    later = connections.live_loads(sql, org, T0 + timedelta(minutes=5))
    assert {x.connection.id: x.attempts_per_second for x in later}["trunk-a"] == 0
    assert connections.live_loads(sql, other, T0) == []


def _deliveries(sql: SqlStore, org: str, campaign_id: str, n: int) -> list[str]:
    with sql.engine.begin() as conn:
        queue(
            conn,
            [
                NewDelivery(
                    org, campaign_id, None, LIFECYCLE, "campaign.paused", "https://h.example/x",
                    T0 + timedelta(seconds=i),
                )
                for i in range(n)
            ],
        )  # fmt: skip
    page, _ = sql.list_deliveries(org, None, 0, 100)
    return [d.id for d in page]


def _fail(sql: SqlStore, outbox_id: str) -> None:
    sql.record_delivery(
        outbox_id, status="failed", code=500, error="500 Internal", next_attempt_at=None, at=T0
    )


def test_deliveries_are_listed_newest_first_and_filtered_by_status(sql: SqlStore) -> None:
    """The organization's deliveries come newest first, paged and filtered by status; an
    unknown status is refused naming it; another organization's are not listed."""
    org, ws, agent = seed_account(sql)
    other, _, _ = seed_account(sql)
    c = campaign(org, ws, agent)
    sql.create_campaign(c, [])
    ids = _deliveries(sql, org, c.id, 3)
    _fail(sql, ids[1])
    page, total = webhooks.deliveries(sql, org, None, 0, 2)
    assert total == 3 and [d.created_at for d in page] == sorted(
        [d.created_at for d in page], reverse=True
    )
    failed, total = webhooks.deliveries(sql, org, "failed", 0, 10)
    assert total == 1 and failed[0].id == ids[1]
    assert failed[0].last_status_code == 500 and failed[0].last_error == "500 Internal"
    assert failed[0].url == "https://h.example/x"
    assert webhooks.deliveries(sql, other, None, 0, 10) == ([], 0)
    with pytest.raises(ValidationFailed) as refused:
        webhooks.deliveries(sql, org, "lost", 0, 10)
    assert refused.value.errors[0].field == "status"


def test_a_failed_delivery_is_retried_and_nothing_else(sql: SqlStore) -> None:
    """Retrying a failed delivery makes it pending and due now; a pending one is refused
    naming its status; another organization's or an unknown id is not found."""
    org, ws, agent = seed_account(sql)
    other, _, _ = seed_account(sql)
    c = campaign(org, ws, agent)
    sql.create_campaign(c, [])
    ids = _deliveries(sql, org, c.id, 2)
    _fail(sql, ids[0])
    now = T0 + timedelta(hours=1)
    with pytest.raises(NotFound):
        webhooks.retry_delivery(sql, other, ids[0], now)
    with pytest.raises(NotFound):
        webhooks.retry_delivery(sql, org, "00000000-0000-0000-0000-000000000000", now)
    retried = webhooks.retry_delivery(sql, org, ids[0], now)
    assert retried.status == "pending" and retried.next_attempt_at == now
    claimed = sql.claim_webhooks(now, 10, timedelta(seconds=30))
    assert ids[0] in {d.id for d in claimed}
    with pytest.raises(ValidationFailed) as refused:
        webhooks.retry_delivery(sql, org, ids[1], now)
    assert refused.value.errors[0].rejected_value == "pending"
    with sql.engine.connect() as conn:
        rows = conn.execute(sa.select(t.webhook_outbox.c.id, t.webhook_outbox.c.status)).all()
    statuses = {r.id: r.status for r in rows}
    assert statuses[ids[1]] == "pending"
