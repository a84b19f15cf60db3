"""A number is a contact of a campaign once, enforced by the database: migration 0010
settles the duplicates already stored, and every add path, however many run at once,
leaves one contact per number (the hidden direct-calls campaigns excepted)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ringcast.clock import VirtualClock
from ringcast.core.model import Contact, ContactState
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.engine import make_engine
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore
from ringcast.records import HIDDEN_MARKER, Cohort, Dialect
from ringcast.services import campaigns as service
from ringcast.services import cohorts

from .factories import T0, campaign, contacts, new_id, seed_account

PHONES = [f"+9198{i:08d}" for i in range(200)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def at_0009(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on a database migrated to 0009, the revision before the unique index."""
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_engine_url")
    )
    engine = make_engine(url)
    upgrade(engine, "0009")
    yield engine
    engine.dispose()


def _contact(conn: sa.Connection, org: str, campaign_id: str, phone: str, age: int, **over):
    """A contact stored as 0009 stored it, created ``age`` minutes after T0."""
    (k,) = contacts(campaign_id, 1)
    values = {
        **mapping.new_contact_values(org, k, T0 + timedelta(minutes=age)),
        "phone": phone,
        **over,
    }
    conn.execute(t.contacts.insert().values(**values))
    return k.id


def _attempt(conn: sa.Connection, org: str, campaign_id: str, contact_id: str, phone: str):
    conn.execute(
        t.attempts.insert().values(
            id=new_id(),
            contact_id=contact_id,
            campaign_id=campaign_id,
            org_id=org,
            phone=phone,
            number=1,
            state="ended",
            outcome="no_answer",
            due_at=T0,
            qualifiers=[],
            variables={},
            dropped_variables=[],
            created_at=T0,
        )
    )


def test_migration_keeps_one_contact_per_number(at_0009: sa.Engine) -> None:
    """Of duplicates, the dialled one (else the oldest) is kept; undialled extras are
    deleted; a dialled extra keeps its history outside the index and is never dialled
    again; a direct-calls campaign keeps every contact; a cohort stuck ``processing``
    is failed with the contacts it added counted."""
    store = SqlStore(at_0009)
    org, ws, agent = seed_account(store)
    main = campaign(org, ws, agent)
    direct = campaign(org, ws, agent, extra={HIDDEN_MARKER: agent})
    store.create_campaign(main, ())
    store.create_campaign(direct, ())
    stuck = new_id()
    with at_0009.begin() as conn:
        a_old = _contact(conn, org, main.id, "+33600000001", 0)
        a_dialled = _contact(conn, org, main.id, "+33600000001", 1, attempts=1)
        _attempt(conn, org, main.id, a_dialled, "+33600000001")
        a_new = _contact(conn, org, main.id, "+33600000001", 2)
        b_old = _contact(conn, org, main.id, "+33600000002", 0)
        b_new = _contact(conn, org, main.id, "+33600000002", 1)
        c_first = _contact(conn, org, main.id, "+33600000003", 0, attempts=1)
        c_second = _contact(conn, org, main.id, "+33600000003", 1, attempts=1)
        for k in (c_first, c_second):
            _attempt(conn, org, main.id, k, "+33600000003")
        direct_ids = [_contact(conn, org, direct.id, "+33600000009", i) for i in range(2)]
        conn.execute(
            t.cohorts.insert().values(
                id=stuck,
                campaign_id=main.id,
                name="stuck",
                status="processing",
                source_type="file_upload",
                transformation={},
                created_at=T0,
                updated_at=T0,
            )
        )
        _contact(conn, org, main.id, "+33600000004", 3, cohort_id=stuck)

    upgrade(at_0009)

    left = {k.id: k for k in store.campaign_contacts(main.id)}
    assert a_dialled in left and a_old not in left and a_new not in left
    assert b_old in left and b_new not in left
    assert left[c_first].state is ContactState.WAITING
    assert left[c_second].state is ContactState.CANCELLED
    assert left[c_second].reason == "duplicate_number"
    assert sorted(k.id for k in store.campaign_contacts(direct.id)) == sorted(direct_ids)
    failed = store.get_cohort(stuck)
    assert failed is not None and failed.status == "failed" and failed.valid_records == 1

    again = store.add_contacts(main.id, [_one(main.id, "+33600000001")], T0)
    assert again == []  # the index now holds the number
    assert len(store.add_contacts(direct.id, [_one(direct.id, "+33600000009")], T0)) == 1


def _one(campaign_id: str, phone: str) -> Contact:
    return replace(contacts(campaign_id, 1)[0], phone=phone)


def test_every_store_adds_a_number_once(store) -> None:
    """Adding contacts whose numbers the campaign has (in the same call or an earlier one)
    adds each number once and returns only the contacts added, in every store."""
    org, ws, agent = seed_account(store)
    c = campaign(org, ws, agent)
    first = contacts(c.id, 3)
    store.create_campaign(c, [*first, _one(c.id, first[0].phone)])
    assert len(store.campaign_contacts(c.id)) == 3
    more = contacts(c.id, 2)
    added = store.add_contacts(c.id, [*more, _one(c.id, first[1].phone)], T0)
    assert [k.id for k in added] == [k.id for k in more]
    assert len({k.phone for k in store.campaign_contacts(c.id)}) == 5
    assert store.count_contacts(c.id) == {ContactState.WAITING: 5}


def _racers(n: int, run) -> list[BaseException]:
    """Run ``run(i)`` on ``n`` threads released together; the exceptions they raised."""
    gate = threading.Barrier(n)
    errors: list[BaseException] = []

    def go(i: int) -> None:
        gate.wait()
        try:
            run(i)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return errors


def test_ten_concurrent_streams_of_the_same_numbers_make_each_contact_once(engine) -> None:
    """Ten cohort streams of the same 200 numbers at once: 200 contacts, all dialable, and
    the cohorts' valid counts add up to 200 (each stream counts the rest as rejected)."""
    store, clock = SqlStore(engine), VirtualClock(T0)
    org, ws, agent = seed_account(store)
    c = campaign(org, ws, agent, dialect=Dialect.SARVAM)
    store.create_campaign(c, ())
    users = [cohorts.Row(p, None, {}, {}) for p in PHONES]
    done: list[Cohort] = []

    def stream(i: int) -> None:
        done.append(cohorts.stream(store, clock, c, f"s{i}", users, "test", cohorts.Job(f"w{i}")))

    assert _racers(10, stream) == []
    assert store.count_contacts(c.id) == {ContactState.WAITING: 200}
    assert all(k.next_due_at is not None for k in store.campaign_contacts(c.id))
    assert {x.status for x in done} == {"completed"}
    assert sum(x.valid_records for x in done) == 200
    assert all(x.total_records == 200 == x.valid_records + x.rejected_records for x in done)


def test_concurrent_adds_of_the_same_numbers_make_each_contact_once(engine) -> None:
    """The native path (``add_recipients``) racing on ten threads: 200 contacts."""
    store, clock = SqlStore(engine), VirtualClock(T0)
    org, ws, agent = seed_account(store)
    c = campaign(org, ws, agent)
    store.create_campaign(c, ())
    recipients = [service.Recipient(p) for p in PHONES]
    added: list[int] = []

    def add(_i: int) -> None:
        added.append(len(service.add_recipients(store, clock, c, recipients)))

    assert _racers(10, add) == []
    assert store.count_contacts(c.id) == {ContactState.WAITING: 200}
    assert sum(added) == 200
