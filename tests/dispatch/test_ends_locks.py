"""A batch of call ends over several campaigns does not wait for one campaign's planning
while holding the others (PostgreSQL: the only store with row locks).

Another worker's planning step is stood in for by a transaction holding one campaign's
row; the batch's ends of the other campaign are committed meanwhile, and its ends of the
locked one as soon as the lock goes.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from ringcast.core import step as tick
from ringcast.core.model import ContactState
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.db.store import SqlStore
from tests.dispatch.test_tick_contract import open_campaign, run
from tests.integration.factories import T0, contacts

pytestmark = pytest.mark.postgres


def dialled(store: SqlStore, n: int) -> tuple[str, list[str]]:
    """A campaign with ``n`` contacts in a call; its id and its attempts' ids."""
    c = open_campaign(store)
    store.create_campaign(c, contacts(c.id, n))
    writes = run(store, c, T0)
    assert writes is not None and len(writes.dials) == n
    return c.id, [d.attempt.id for d in writes.dials]


def states(engine: sa.Engine, campaign_id: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select state from contacts where campaign_id = :c"), {"c": campaign_id}
        )
        return {r.state for r in rows}


def test_ends_of_a_free_campaign_commit_while_another_is_being_planned(pg_engine) -> None:
    """With campaign B's row locked, the ends of A in the same batch are committed at once;
    those of B when B's row is free; every end is returned in order."""
    store = SqlStore(pg_engine)
    a_id, a_attempts = dialled(store, 2)
    b_id, b_attempts = dialled(store, 2)
    at = T0 + timedelta(seconds=30)
    ends = [
        CallResult(i, Outcome.COMPLETED, at) for i in [a_attempts[0], *b_attempts, a_attempts[1]]
    ]
    done: list[object] = []
    with pg_engine.connect() as planning:
        planning.execute(sa.text("select 1 from campaigns where id = :c for update"), {"c": b_id})
        writer = threading.Thread(
            target=lambda: done.extend(store.end_attempts([(r, tick.finisher(r)) for r in ends]))
        )
        writer.start()
        for _ in range(200):  # A's ends are committed while B's row is still held
            if states(pg_engine, a_id) == {ContactState.REACHED.value}:
                break
            writer.join(0.05)
        assert states(pg_engine, a_id) == {ContactState.REACHED.value}
        assert states(pg_engine, b_id) == {ContactState.DIALING.value}
        assert writer.is_alive()  # waiting for B
        planning.rollback()
    writer.join(30)
    assert not writer.is_alive()
    assert states(pg_engine, b_id) == {ContactState.REACHED.value}
    assert [x[1].id for x in done] == [r.attempt_id for r in ends]  # type: ignore[index]
    with pg_engine.connect() as conn:
        in_flight = conn.execute(
            sa.text("select in_flight from campaigns where id in (:a, :b)"), {"a": a_id, "b": b_id}
        )
        assert [r.in_flight for r in in_flight] == [0, 0]  # each campaign's places freed
