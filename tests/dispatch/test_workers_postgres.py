"""Three ``ringcast worker`` processes over one PostgreSQL: limits hold across all of them."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ringcast.clock import SystemClock
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.db.store import SqlStore
from ringcast.records import Campaign
from ringcast.services import accounts, campaigns, connections
from ringcast.services.direct_calls import ALWAYS
from tests.support import worker_env

pytestmark = pytest.mark.postgres
WORKERS = 3
DAILY = 60
CONCURRENT = 4
PEOPLE = 80


def start_workers(url: str, n: int) -> list[subprocess.Popen[str]]:
    env = worker_env(url, simulator_talk_s="0.4")
    return [
        subprocess.Popen(
            [sys.executable, "-m", "ringcast", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]


def open_campaigns(
    store: SqlStore,
    limits: PacingLimits,
    people: Callable[[str], list[campaigns.Recipient]],
    routes: tuple[Route, ...] = (),
) -> tuple[str, list[Campaign]]:
    """Campaigns "one" and "two" of account "acme", open around the clock; its org id."""
    clock = SystemClock()
    issued = accounts.issue_key(store, clock, "acme")
    agent = accounts.register_agent(store, clock, "acme", "A", "Hi {{ name }}")
    made = []
    for name in ("one", "two"):
        config = CampaignConfig(
            "", CampaignStatus.SCHEDULED, Schedule(ALWAYS), limits, RetryPolicy(), routes=routes
        )
        new = campaigns.NewCampaign(
            org_id=issued.organization.id,
            workspace_id=issued.workspace.id,
            name=name,
            agent_id=agent.id,
            agent_field="agentId",
            dialect=campaigns.Dialect.NATIVE,
            config=config,
            recipients=people(name),
        )
        made.append(campaigns.create(store, clock, new))
    return issued.organization.id, made


def run_until_ended(engine: sa.Engine, url: str, calls: int, linger: float = 0.0) -> None:
    """Three workers, until ``calls`` attempts have ended (then ``linger`` seconds more)."""
    workers = start_workers(url, WORKERS)
    try:
        deadline = time.monotonic() + 90
        while True:
            with engine.connect() as conn:
                ended = conn.execute(
                    sa.text("select count(*) from attempts where state = 'ended'")
                ).scalar_one()
            if ended >= calls:
                break
            assert all(w.poll() is None for w in workers), [
                w.stderr.read() for w in workers if w.stderr
            ]
            assert time.monotonic() < deadline, f"only {ended} calls ended"
            time.sleep(0.3)
        time.sleep(linger)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.communicate(timeout=30)


def peak_in_progress(calls: Sequence[Any]) -> int:
    """The most calls in progress at once, from their dial and end moments."""
    events = sorted([(r.dialed_at, 1) for r in calls] + [(r.ended_at, -1) for r in calls])
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def test_quota_concurrency_and_one_call_per_number(
    pg_engine: sa.Engine, pg_engine_url: str
) -> None:
    """Across three workers: at most 60 dials, 4 at once, and never one number in two calls."""
    limits = PacingLimits(attempts_per_second=200, calls_per_day=DAILY, max_concurrent=CONCURRENT)
    # both campaigns call the same numbers (more than the cap): nobody in two calls at once
    _, made = open_campaigns(
        SqlStore(pg_engine),
        limits,
        lambda _: [
            campaigns.Recipient(f"+3361234{i:04d}", {"name": f"P{i}"}) for i in range(PEOPLE)
        ],
    )
    run_until_ended(pg_engine, pg_engine_url, 2 * DAILY, linger=1.5)  # anyone past the quota?

    with pg_engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select campaign_id, phone, dialed_at, ended_at from attempts order by dialed_at"
            )
        ).all()
    per_campaign = {c.id: [r for r in rows if r.campaign_id == c.id] for c in made}
    for c in made:
        calls = per_campaign[c.id]
        assert len(calls) == DAILY, f"{len(calls)} dials against a daily cap of {DAILY}"
        peak = peak_in_progress(calls)
        assert peak <= CONCURRENT, f"{peak} calls at once against a cap of {CONCURRENT}"
    by_phone: dict[str, list[tuple]] = {}
    for r in rows:
        by_phone.setdefault(r.phone, []).append((r.dialed_at, r.ended_at))
    for phone, spans in by_phone.items():
        spans.sort()
        for (_, end_a), (start_b, _) in itertools.pairwise(spans):
            assert start_b >= end_a - timedelta(milliseconds=1), f"{phone} in two calls at once"


LINE_RATE = 5
LINE_CONCURRENT = 3
LINE_PEOPLE = 25


def test_a_shared_connections_limits_hold_across_workers(
    pg_engine: sa.Engine, pg_engine_url: str
) -> None:
    """Two campaigns allowed 100 dials/s each share one connection allowed 5/s and 3 at
    once: across three workers, its dials are never closer than 200 ms and never more
    than 3 are in progress; both campaigns finish."""
    store = SqlStore(pg_engine)
    org_id, _ = open_campaigns(
        store,
        PacingLimits(attempts_per_second=100),
        lambda name: [
            campaigns.Recipient(f"+336{len(name)}{i:07d}", {"name": f"P{i}"})
            for i in range(LINE_PEOPLE)
        ],
        routes=(Route("shared-trunk", ("+33100000000",)),),
    )
    store.put_connection(
        connections.checked(
            org_id,
            "shared-trunk",
            connections.ConnectionRequest(
                max_attempts_per_second=LINE_RATE,
                max_concurrent=LINE_CONCURRENT,
                simulator={"outcomes": "answered=1", "talk_s": 0.4, "ring_s": 0.05},
            ),
            SystemClock().now(),
        )
    )
    run_until_ended(pg_engine, pg_engine_url, 2 * LINE_PEOPLE)
    with pg_engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select campaign_id, connection_id, dialed_at, ended_at from attempts "
                "order by dialed_at"
            )
        ).all()
    assert len(rows) == 2 * LINE_PEOPLE and {r.connection_id for r in rows} == {"shared-trunk"}
    assert len({r.campaign_id for r in rows}) == 2
    gaps = [b.dialed_at - a.dialed_at for a, b in itertools.pairwise(rows)]
    assert min(gaps) >= timedelta(seconds=1 / LINE_RATE), f"dials {min(gaps)} apart"
    peak = peak_in_progress(rows)
    assert peak <= LINE_CONCURRENT, f"{peak} calls at once on a connection allowing 3"
