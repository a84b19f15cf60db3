"""The hidden direct-calls campaign is made once per agent, however its first calls race."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from ringcast.clock import VirtualClock
from ringcast.core.pacing import PacingLimits
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.store import SqlStore
from ringcast.records import HIDDEN_MARKER
from ringcast.services import direct_calls

from .factories import T0, campaign, seed_account

pytestmark = pytest.mark.postgres


def hidden_campaigns(engine: sa.Engine, agent_id: str) -> list[str]:
    """The ids of every campaign marked as the agent's hidden direct-calls campaign."""
    c = t.campaigns
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(c.c.id).where(c.c.extra[HIDDEN_MARKER].as_string() == agent_id)
            ).scalars()
        )


def wait_until_blocked_by(engine: sa.Engine, pid: int, deadline_s: float = 20) -> None:
    """Return once some session waits for a lock held by the backend ``pid``."""
    query = sa.text("select count(*) from pg_stat_activity where :pid = any(pg_blocking_pids(pid))")
    give_up = time.monotonic() + deadline_s
    with engine.connect() as conn:
        while conn.execute(query, {"pid": pid}).scalar_one() == 0:
            if time.monotonic() > give_up:
                pytest.fail("the second creator never waited for the first one's insert")
            time.sleep(0.02)
            conn.rollback()  # a fresh snapshot for the next look


def test_a_creator_blocked_by_another_reads_its_campaign_back(pg_engine: sa.Engine) -> None:
    """A second creator whose insert waits on a first, uncommitted one gets the first's
    campaign once it commits, instead of an error or a second campaign."""
    store = SqlStore(pg_engine)
    org_id, ws_id, agent_id = seed_account(store)
    first = campaign(org_id, ws_id, agent_id, extra={HIDDEN_MARKER: agent_id})
    second = campaign(org_id, ws_id, agent_id, extra={HIDDEN_MARKER: agent_id})
    with ThreadPoolExecutor(1) as pool, pg_engine.connect() as conn:
        tx = conn.begin()
        conn.execute(t.campaigns.insert().values(**mapping.new_campaign_values(first)))
        pid = conn.execute(sa.text("select pg_backend_pid()")).scalar_one()
        racing = pool.submit(store.ensure_direct_campaign, second)
        wait_until_blocked_by(pg_engine, pid)
        tx.commit()
        assert racing.result(timeout=20).id == first.id
    assert hidden_campaigns(pg_engine, agent_id) == [first.id]


def place_at_once(store: SqlStore, org_id: str, ws_id: str, agent_id: str) -> list[str]:
    """Place two first calls to the agent from two threads released together; the ids of
    the campaigns they landed in."""
    clock = VirtualClock(T0)
    start = threading.Barrier(2)

    def place(phone: str) -> str:
        call = direct_calls.DirectCall(
            org_id, ws_id, "rc_test", agent_id, "agent_id", phone, {"name": "Ada"}
        )
        start.wait(timeout=20)
        return direct_calls.place(store, clock, call, PacingLimits()).campaign.id

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(place, ["+33612345678", "+33612345679"]))


def test_first_direct_calls_at_once_share_one_campaign(pg_engine: sa.Engine) -> None:
    """Two first calls to an agent placed at the same moment land in one hidden campaign."""
    store = SqlStore(pg_engine)
    for _ in range(3):
        org_id, ws_id, agent_id = seed_account(store)
        first, second = place_at_once(store, org_id, ws_id, agent_id)
        assert first == second
        assert hidden_campaigns(pg_engine, agent_id) == [first]
