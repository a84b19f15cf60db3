"""``/metrics`` shows the deployment, never a tenant, can require a token, and gives an
operator what to alert on from queries whose cost does not grow with the contacts."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.db.sql import outbox as sql_outbox
from ringcast.dispatch.loop import Dispatcher
from ringcast.metrics import Metrics, connection_key
from ringcast.runtime import Runtime
from ringcast.webhooks.outbox import NewDelivery

from .conftest import Account
from .test_forecast_api import make_campaign

TOKEN = "m3trics-t0ken-m3trics-t0ken"
#: the labels of ringcast's own metrics and of the client library's process and Python ones
LABELS = {"outcome", "result", "le", "method", "route", "status", "connection"} | {
    "implementation", "major", "minor", "patchlevel", "version", "generation"
}  # fmt: skip


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def add_connection(client, account: Account, connection_id: str, limit: int) -> None:
    body = {"name": "Paris trunk", "gateway": "simulator", "max_concurrent": limit}
    r = client.put(f"/ringcast/v1/connections/{connection_id}", json=body, headers=account.headers)
    assert r.status_code == 201, r.text


def test_metrics_carry_no_per_tenant_label(client, account: Account) -> None:
    """After a tenant's activity, no metric is labelled by organization, workspace,
    campaign, agent or number, a connection only by its pseudonym, and none of their ids
    appears."""
    campaign_id = make_campaign(client, account, people=2)
    add_connection(client, account, "acme-paris-trunk", 3)
    client.get(f"/v1/campaigns/{campaign_id}", headers=account.headers)
    text = client.get("/metrics").text
    labels = set(re.findall(r"[{,]([a-z_]+)=", text))
    assert labels <= LABELS, labels - LABELS
    for tenant_value in (account.org_id, account.workspace_id, account.agent_id, campaign_id):
        assert tenant_value not in text
    assert "+336123456" not in text and "acme-paris-trunk" not in text


def test_a_metrics_token_is_required_when_set(runtime: Runtime, clock: VirtualClock) -> None:
    """With RINGCAST_METRICS_TOKEN set, /metrics is 401 without it or with another, and
    200 with ``Authorization: Bearer <token>``."""
    runtime.settings = runtime.settings.model_copy(update={"metrics_token": TOKEN})
    with TestClient(create_app(runtime, clock)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "ringcast_attempts_total" in ok.text


#: tests of the HTTP layer alone: one backend is enough
SQLITE_ONLY = pytest.mark.parametrize("runtime", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_requests_are_counted_by_route_template_and_status(client, account: Account) -> None:
    """Requests are counted and timed by their route's template, never their raw path;
    a path no route matches counts as ``unmatched``."""
    unknown = "0b7d3c55-4e0c-4bb0-9d7e-2a9c1e2f3a4b"
    for _ in range(3):
        assert client.get(f"/v1/campaigns/{unknown}", headers=account.headers).status_code == 404
    assert client.get("/no/such/path").status_code == 404
    text = client.get("/metrics").text
    route = "/v1/campaigns/{id}"
    counted = value(text, "ringcast_http_requests_total", method="GET", route=route, status="404")
    assert counted == 3
    timed = value(text, "ringcast_http_request_duration_seconds_count", method="GET", route=route)
    assert timed == 3
    assert (
        value(text, "ringcast_http_requests_total", method="GET", route="unmatched", status="404")
        == 1
    )
    assert unknown not in text and "/no/such/path" not in text


def test_process_and_python_collectors_are_exported() -> None:
    """The process (CPU, memory) and interpreter (version, GC) figures ride along."""
    text = generate_latest(Metrics().registry).decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"):
        assert re.search(rf"^{name}[{{ ]", text, re.M), name
    assert "python_gc_objects_collected_total" in text


def test_backlog_gauges_follow_the_database(
    client, runtime: Runtime, clock: VirtualClock, account: Account
) -> None:
    """Due contacts, calls in flight, each connection's calls against its limit, and the
    webhook backlog with its oldest entry's age read what the database holds."""
    campaign_id = make_campaign(client, account, people=5)
    add_connection(client, account, "trunk-1", 3)
    clock.advance(timedelta(hours=2))  # Monday 10:00 in Paris: the slot is open
    text = client.get("/metrics").text
    assert value(text, "ringcast_due_contacts") == 5
    assert value(text, "ringcast_in_flight_calls") == 0
    key = connection_key(account.org_id, "trunk-1")
    assert value(text, "ringcast_connection_in_flight_calls", connection=key) == 0
    assert value(text, "ringcast_connection_max_concurrent", connection=key) == 3
    assert value(text, "ringcast_webhook_oldest_pending_age_seconds") == 0

    dispatcher = Dispatcher(runtime.store, clock)  # no gateway: attempts recorded, none placed
    asyncio.run(dispatcher.step())
    pending = NewDelivery(
        account.org_id,
        campaign_id,
        None,
        "lifecycle",
        "campaign.paused",
        "https://x.test",
        clock.now(),
    )
    with runtime.engine.begin() as conn:
        sql_outbox.queue(conn, [pending])
    clock.advance(timedelta(seconds=90))
    text = client.get("/metrics").text
    live = value(text, "ringcast_in_flight_calls")
    assert live is not None and live > 0
    assert value(text, "ringcast_due_contacts") == 5 - live
    assert value(text, "ringcast_webhook_backlog") == 1
    assert value(text, "ringcast_webhook_oldest_pending_age_seconds") == 90


def test_backlog_counts_stop_at_their_cap(
    client, runtime: Runtime, clock: VirtualClock, account: Account
) -> None:
    """The two counts that could grow without bound read at most ``cap``."""
    make_campaign(client, account, people=5)
    make_campaign(client, account, people=4)
    clock.advance(timedelta(hours=2))
    assert runtime.store.backlog(clock.now()).due_contacts == 9
    figures = runtime.store.backlog(clock.now(), cap=3)
    assert figures.due_contacts == 3 and figures.cap == 3


@pytest.mark.postgres
def test_backlog_queries_read_indexes_not_tables(pg_engine: sa.Engine) -> None:
    """On PostgreSQL, with sequential scans discouraged, each backlog query has a plan
    through an index on contacts, attempts and the outbox: no query of a scrape needs to
    read those tables whole (the due count walks ``ix_contacts_due`` per campaign)."""
    from ringcast.db.store import SqlStore

    store = SqlStore(pg_engine)
    statements: list[tuple[str, Any]] = []

    @sa.event.listens_for(pg_engine, "before_cursor_execute")
    def keep(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    store.backlog(datetime(2026, 6, 1, tzinfo=UTC))
    sa.event.remove(pg_engine, "before_cursor_execute", keep)
    plans = []
    with pg_engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            explained = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
            plan = "\n".join(r[0] for r in explained)
            plans.append(plan)
            for table in ("contacts", "attempts", "webhook_outbox"):
                assert f"Seq Scan on {table}" not in plan, plan
    due_plan = next(p for p in plans if "contacts" in p)
    assert "ix_contacts_due" in due_plan and "Limit" in due_plan
    oldest_plan = next(p for p in plans if "pending_age" in p)
    assert "ix_webhook_outbox_pending_age" in oldest_plan


DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "ringcast.json"


@SQLITE_ONLY
def test_the_grafana_dashboard_charts_what_the_app_exports(client, app) -> None:
    """deploy/grafana/ringcast.json is importable anywhere (its data source a templated
    Prometheus variable), every query names metrics the app exports, and every
    ``ringcast_`` metric has a panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    app.state.metrics.heartbeat.beat()  # a process with a dispatcher shows its loop's age
    text = client.get("/metrics").text
    exported = set(re.findall(r"^# TYPE (\S+) (\S+)", text, re.M))
    names = {n for n, _ in exported} | {
        f"{n}{suffix}" for n, kind in exported if kind == "histogram"
        for suffix in ("_bucket", "_count", "_sum")
    }  # fmt: skip
    charted: set[str] = set()
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\b((?:ringcast|process|python)_[a-z_]+)\b", target["expr"]))
            assert used, target["expr"]
            assert used <= names, (panel["title"], used - names)
            charted |= {re.sub(r"_(bucket|count|sum)$", "", n) for n in used}
    # ``*_created`` are the client library's creation stamps of unlabelled series
    ours = {n for n, _ in exported if n.startswith("ringcast_") and not n.endswith("_created")}
    assert ours <= charted, ours - charted
