"""Cohort uploads are durable jobs: a job cut short resumes where its last batch ended,
under a lease only one process holds, adds each valid row once, and a failed one leaves
no contact behind."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from ringcast.clock import VirtualClock
from ringcast.core.errors import LeaseLost
from ringcast.core.model import ContactState
from ringcast.db.store import SqlStore
from ringcast.records import COHORT_PENDING, Campaign, Cohort, Dialect
from ringcast.services import cohorts

from .factories import T0, campaign, seed_account

MAPPING = json.dumps(
    {"phone_number": {"column_name": "mobile"}, "app_variables": {"name": {"column_name": "n"}}}
).encode()
ROWS = 1000
BATCH = 100


class SimulatedCrash(Exception):
    """The process died here."""


class CrashingStore:
    """The store, except that the batch after ``batches`` never happens (a crash)."""

    def __init__(self, store: SqlStore, batches: int) -> None:
        self.store = store
        self.left = batches

    def cohort_batch(self, *args: Any, **kwargs: Any) -> Any:
        if self.left == 0:
            raise SimulatedCrash
        self.left -= 1
        return self.store.cohort_batch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def people(n: int = ROWS) -> bytes:
    """``n`` rows: every 50th number invalid, every 40th a repeat of the row before."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(("mobile", "n"))
    for i in range(n):
        phone = "bad" if i % 50 == 7 else f"+9198{(i - 1 if i % 40 == 39 else i):08d}"
        w.writerow((phone, f"P{i}"))
    return buf.getvalue().encode()


def expected(data: bytes) -> tuple[int, int]:
    """(valid, rejected) for a file of ``people``."""
    seen, valid = set(), 0
    for row in csv.DictReader(io.StringIO(data.decode())):
        if row["mobile"] != "bad" and row["mobile"] not in seen:
            seen.add(row["mobile"])
            valid += 1
    total = data.decode().count("\n") - 1
    return valid, total - valid


def setup(store: SqlStore) -> tuple[Campaign, VirtualClock]:
    org, ws, agent = seed_account(store)
    c = campaign(org, ws, agent, dialect=Dialect.SARVAM)
    store.create_campaign(c, ())
    return c, VirtualClock(T0)


def start(store: Any, clock: VirtualClock, c: Campaign, data: bytes, job: cohorts.Job) -> Cohort:
    return cohorts.upload(store, clock, c, "people", io.BytesIO(data), MAPPING, "test", job)


def rejected_rows(store: SqlStore, cohort: Cohort) -> list[dict[str, str]]:
    text = b"".join(cohorts.cohort_file(store, cohort, "rejected_records")).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_a_job_cut_short_resumes_and_adds_each_row_once(engine) -> None:
    """A job dies after three batches: its contacts so far are held (not due), the cohort
    stays processing; once the lease lapses another process resumes it from row 300 and
    the cohort ends with exactly the valid rows as dialable contacts, and each rejected
    row once in the rejected-records file."""
    store = SqlStore(engine)
    c, clock = setup(store)
    data = people()
    first = cohorts.Job("first", timedelta(seconds=30), BATCH)
    cohort = start(store, clock, c, data, first)
    with pytest.raises(SimulatedCrash):
        cohorts.resume(CrashingStore(store, 3), clock, first, cohort)  # type: ignore[arg-type]

    cut = store.get_cohort(cohort.id)
    assert cut is not None and cut.status == "processing" and cut.total_records == 3 * BATCH
    held = store.campaign_contacts(c.id)
    assert held and all(k.next_due_at is None and k.reason == COHORT_PENDING for k in held)
    assert len(held) == cut.valid_records

    second = cohorts.Job("second", timedelta(seconds=30), BATCH)
    assert cohorts.resume_next(store, clock, second) is None  # the lease still holds
    clock.advance(timedelta(seconds=31))
    done = cohorts.resume_next(store, clock, second)

    valid, rejected = expected(data)
    assert done is not None and done.status == "completed"
    assert (done.total_records, done.valid_records, done.rejected_records) == (
        ROWS,
        valid,
        rejected,
    )
    contacts = store.campaign_contacts(c.id)
    assert len(contacts) == valid == len({k.phone for k in contacts})
    assert all(k.next_due_at is not None and k.reason is None for k in contacts)
    refused = rejected_rows(store, done)
    assert len(refused) == rejected == len({r["n"] for r in refused})
    later = clock.now() + timedelta(hours=1)
    assert store.claim_cohort("third", later, later) is None  # nothing left to resume


def test_a_process_whose_lease_lapsed_writes_nothing_more(engine) -> None:
    """The first holder comes back after its lease passed to another: its next batch is
    refused (``LeaseLost``) and rolled back; the new holder completes the job alone."""
    store = SqlStore(engine)
    c, clock = setup(store)
    slow = cohorts.Job("slow", timedelta(seconds=30), BATCH)
    cohort = start(store, clock, c, people(), slow)
    clock.advance(timedelta(seconds=31))
    fast = cohorts.Job("fast", timedelta(seconds=30), BATCH)
    claimed = store.claim_cohort(fast.owner, clock.now(), clock.now() + fast.lease)
    assert claimed is not None and claimed.id == cohort.id
    with (
        pytest.raises(LeaseLost),
        store.cohort_batch(cohort, slow.owner, 0, clock.now() + slow.lease),
    ):
        pass
    stale = cohorts.resume(store, clock, slow, cohort)  # returns without writing
    assert stale.status == "processing" and stale.total_records == 0
    done = cohorts.resume(store, clock, fast, claimed)
    assert done.status == "completed" and done.valid_records == expected(people())[0]
    assert store.count_contacts(c.id) == {ContactState.WAITING: done.valid_records}


def test_a_failed_upload_adds_no_contact(engine) -> None:
    """A file that turns unreadable after many batches (bad UTF-8 after row 3,000) fails
    the cohort, and the contacts its earlier batches added are removed: none was due."""
    store = SqlStore(engine)
    c, clock = setup(store)
    job = cohorts.Job("only", timedelta(seconds=30), BATCH)
    cohort = start(store, clock, c, people(3000) + b"\xff\xfe,broken\r\n", job)
    done = cohorts.resume(store, clock, job, cohort)
    assert done.status == "failed" and "not readable" in (done.failure_reason or "")
    assert done.total_records >= 2000  # batches were committed before the bad bytes
    assert done.valid_records == 0
    assert store.count_contacts(c.id) == {}


def test_a_stream_cut_short_is_failed_not_half_added(engine) -> None:
    """A stream whose process died before it completed has no file to resume from: the
    job runner fails it and removes what it had added."""
    store = SqlStore(engine)
    c, clock = setup(store)
    dead = cohorts.Job("dead", timedelta(seconds=30), 2)
    users = [cohorts.Row(f"+9198{i:08d}", None, {}, {}) for i in range(10)]
    with pytest.raises(SimulatedCrash):
        cohorts.stream(CrashingStore(store, 2), clock, c, "s", users, "t", dead)  # type: ignore[arg-type]
    assert store.count_contacts(c.id) == {ContactState.WAITING: 4}
    clock.advance(timedelta(seconds=31))
    done = cohorts.resume_next(store, clock, cohorts.Job("runner"))
    assert done is not None and done.status == "failed"
    assert store.count_contacts(c.id) == {}


def test_rows_the_database_would_refuse_are_rejected_not_retried(engine) -> None:
    """A NUL character in a value, or a user_identifier longer than its column, rejects
    that row (PostgreSQL would refuse its whole batch on every try, so the job would
    never end); the other rows are added and the cohort completes."""
    store = SqlStore(engine)
    c, clock = setup(store)
    mapping = json.dumps(
        {
            "phone_number": {"column_name": "mobile"},
            "user_identifier": {"column_name": "id"},
            "app_variables": {"name": {"column_name": "n"}},
        }
    ).encode()
    data = (
        "mobile,id,n\r\n+919800000001,a,Asha\r\n+919800000002,b,Ra\x00vi\r\n"
        f"+919800000003,{'x' * 201},Meera\r\n+919800000004,d,Kiran\r\n"
    ).encode()
    job = cohorts.Job("only", timedelta(seconds=30), 2)
    cohort = cohorts.upload(store, clock, c, "p", io.BytesIO(data), mapping, "test", job)
    done = cohorts.resume(store, clock, job, cohort)
    assert (done.status, done.valid_records, done.rejected_records) == ("completed", 2, 2)
    reasons = [r["rejected_reason"] for r in rejected_rows(store, done)]
    assert "NUL" in reasons[0] and "user_identifier" in reasons[1]
    assert store.count_contacts(c.id) == {ContactState.WAITING: 2}


def test_numbers_the_campaign_has_are_rejected_and_the_rest_added(engine) -> None:
    """A second upload whose numbers all differ among themselves, half of them already
    contacts of the campaign (the first upload's), adds the new half and rejects the
    others as numbers the campaign has: a batch that cannot go straight in is loaded
    the careful way, whole."""
    store = SqlStore(engine)
    c, clock = setup(store)
    job = cohorts.Job("only", timedelta(seconds=30), BATCH)

    def numbers(first: int, n: int) -> bytes:
        lines = ["mobile,n", *(f"+9198{i:08d},P{i}" for i in range(first, first + n))]
        return ("\r\n".join(lines) + "\r\n").encode()

    done = cohorts.resume(store, clock, job, start(store, clock, c, numbers(0, 300), job))
    assert done.status == "completed" and done.valid_records == 300
    again = cohorts.resume(store, clock, job, start(store, clock, c, numbers(150, 300), job))
    assert again.status == "completed"
    assert (again.total_records, again.valid_records, again.rejected_records) == (300, 150, 150)
    refused = rejected_rows(store, again)
    assert {r["rejected_reason"] for r in refused} == {"the campaign already has this phone number"}
    assert sorted(r["n"] for r in refused) == sorted(f"P{i}" for i in range(150, 300))
    assert store.count_contacts(c.id) == {ContactState.WAITING: 450}
