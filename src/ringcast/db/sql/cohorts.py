"""Cohorts as durable jobs: the uploaded file and the rejected rows in the database, a
lease that any server or worker may take over, and one transaction per batch.

Why the job is exact after a crash: each batch writes its contacts, its part of the
rejected-records file and the cohort's progress (``total_records`` is the row offset the
job resumes from) in one transaction, entered only while its process still holds the
lease at the offset it read from. A batch is therefore committed whole or not at all,
and by one process only; and even if it were replayed, ``ux_contacts_campaign_phone``
would turn its contacts into no-ops.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ringcast.core.errors import LeaseLost
from ringcast.core.model import ContactState
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql import bulk
from ringcast.db.sql.base import SqlBase, is_postgres
from ringcast.ports import HeldContact
from ringcast.records import COHORT_PENDING, Cohort

PROCESSING = "processing"
#: contacts made due per transaction when a cohort completes, on SQLite (on PostgreSQL
#: all at once)
RELEASE = 5000


class CohortJobsSql(SqlBase):
    def add_cohort(
        self,
        cohort: Cohort,
        file: Iterable[bytes] = (),
        lease_owner: str | None = None,
        lease_until: datetime | None = None,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                t.cohorts.insert().values(
                    **mapping.fields(cohort),
                    lease_owner=lease_owner,
                    lease_expires_at=lease_until,
                )
            )
            for part, data in enumerate(file):
                conn.execute(
                    t.cohort_files.insert().values(
                        cohort_id=cohort.id, kind="cohort", part=part, data=data
                    )
                )

    def claim_cohort(self, owner: str, now: datetime, until: datetime) -> Cohort | None:
        h = t.cohorts
        free = sa.and_(
            h.c.status == PROCESSING,
            sa.or_(h.c.lease_expires_at.is_(None), h.c.lease_expires_at <= now),
        )
        with self._tx() as conn:
            found = conn.execute(
                sa.select(h.c.id).where(free).order_by(h.c.created_at, h.c.id).limit(1)
            ).scalar_one_or_none()
            if found is None:
                return None
            # Compare and set: of two processes claiming the same cohort, the second
            # finds the lease taken (PostgreSQL re-reads the row after the first commits).
            taken = conn.execute(
                h.update()
                .where(h.c.id == found, free)
                .values(lease_owner=owner, lease_expires_at=until)
            )
            if taken.rowcount != 1:
                return None
            return mapping.cohort(conn.execute(sa.select(h).where(h.c.id == found)).one())

    @contextmanager
    def cohort_batch(
        self, cohort: Cohort, owner: str, offset: int, until: datetime
    ) -> Iterator[_Batch]:
        h = t.cohorts
        with self._tx() as conn:
            held = conn.execute(
                h.update()
                .where(
                    h.c.id == cohort.id,
                    h.c.status == PROCESSING,
                    h.c.lease_owner == owner,
                    h.c.total_records == offset,
                )
                .values(lease_expires_at=until)
            )
            if held.rowcount != 1:
                raise LeaseLost(f"cohort {cohort.id} is no longer this process's job")
            org_id = conn.execute(
                sa.select(t.campaigns.c.org_id).where(t.campaigns.c.id == cohort.campaign_id)
            ).scalar_one()
            yield _Batch(conn, cohort, org_id)

    def cohort_file(self, cohort_id: str, kind: str) -> Iterator[bytes] | None:
        f = t.cohort_files
        where = (f.c.cohort_id == cohort_id, f.c.kind == kind)
        with self.engine.connect() as conn:
            parts = list(conn.execute(sa.select(f.c.part).where(*where).order_by(f.c.part)))
        if not parts:
            return None
        return self._parts(cohort_id, kind, [p.part for p in parts])

    def _parts(self, cohort_id: str, kind: str, parts: Sequence[int]) -> Iterator[bytes]:
        """Each part read on its own, so a large file never sits whole in memory."""
        f = t.cohort_files
        for part in parts:
            # Read, then let go of the connection before yielding: the reader may take
            # its time, and on SQLite an open read would hold the write lock (db.engine).
            with self.engine.connect() as conn:
                data = conn.execute(
                    sa.select(f.c.data).where(
                        f.c.cohort_id == cohort_id, f.c.kind == kind, f.c.part == part
                    )
                ).scalar_one()
            yield data

    def complete_cohort(
        self, cohort: Cohort, owner: str, now: datetime, lease_until: datetime
    ) -> bool:
        """Make the cohort's held contacts due, then mark it completed; each step only
        while ``owner`` holds the lease, which it renews. On SQLite ``RELEASE`` at a time
        (one transaction each, so that a large cohort never holds SQLite's one write lock
        for long); on PostgreSQL in one statement, in the completing transaction (it locks
        only these rows, and one pass costs half of many ``id IN (..)`` lookups).

        Once every row is counted the job can only complete, so a crash half-way through
        the release is finished by whoever resumes it (it reads no more rows)."""
        h, k = t.cohorts, t.contacts
        while True:
            with self._tx() as conn:
                lease = conn.execute(
                    h.update()
                    .where(h.c.id == cohort.id, h.c.status == PROCESSING, h.c.lease_owner == owner)
                    .values(lease_expires_at=lease_until)
                )
                if lease.rowcount != 1:
                    return False
                release = k.update().values(next_due_at=now, reason=None, updated_at=now)
                if is_postgres(conn):
                    # All at once, with the completion: one statement walks the held
                    # contacts and writes them, and holds no lock anyone else needs.
                    conn.execute(release.where(*_held(cohort)))
                else:
                    held = sa.select(k.c.id).where(*_held(cohort)).limit(RELEASE)
                    if conn.execute(release.where(k.c.id.in_(held.scalar_subquery()))).rowcount:
                        continue
                conn.execute(
                    h.update()
                    .where(h.c.id == cohort.id)
                    .values(
                        status="completed",
                        lease_owner=None,
                        lease_expires_at=None,
                        updated_at=now,
                        updated_by=cohort.updated_by,
                    )
                )
                conn.execute(
                    t.campaigns.update()
                    .where(t.campaigns.c.id == cohort.campaign_id)
                    .values(next_wake_at=now)
                )
                return True

    def fail_cohort(self, cohort: Cohort, owner: str | None, now: datetime) -> bool:
        h, k = t.cohorts, t.contacts
        guard: list[Any] = [h.c.id == cohort.id, h.c.status == PROCESSING]
        if owner is not None:
            guard.append(h.c.lease_owner == owner)
        with self._tx() as conn:
            done = conn.execute(
                h.update()
                .where(*guard)
                .values(
                    status="failed",
                    valid_records=0,
                    failure_reason=cohort.failure_reason,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
            )
            if done.rowcount != 1:
                return False
            # Never dialable (held), so never dialled: nothing points at them.
            conn.execute(
                k.delete().where(
                    *_held(cohort), ~sa.exists().where(t.attempts.c.contact_id == k.c.id)
                )
            )
        return True


def _held(cohort: Cohort) -> tuple[Any, ...]:
    """The cohort's contacts still held. The campaign and the empty due time are what
    ``ix_contacts_due`` (waiting contacts by campaign and due time) is keyed on, so this
    reads the held contacts of the campaign from that index, not the table."""
    k = t.contacts
    return (
        k.c.campaign_id == cohort.campaign_id,
        k.c.next_due_at.is_(None),
        k.c.cohort_id == cohort.id,
        k.c.state == ContactState.WAITING.value,
        k.c.reason == COHORT_PENDING,
    )


@dataclass
class _Batch:
    """``ports.CohortBatch`` on the batch's transaction."""

    conn: sa.Connection
    cohort: Cohort
    org_id: str

    def add_held(self, contacts: Sequence[HeldContact], now: datetime) -> set[str]:
        if not contacts:
            return set()
        if is_postgres(self.conn):
            return bulk.copy_new_rows(
                self.conn,
                t.contacts,
                ("id", "phone", "user_identifier", "context", "timezone"),
                contacts,
                self._constants(now),
                t.contacts_once_per_campaign,
                returning="id",
            )
        constants = self._constants(now)
        rows = [
            {
                **constants,
                "id": id_,
                "phone": phone,
                "user_identifier": ident,
                "context": json.loads(context),
                "timezone": zone,
            }
            for id_, phone, ident, context, zone in contacts
        ]
        return set(
            bulk.insert_new_rows(
                self.conn, t.contacts, rows, t.contacts_once_per_campaign, returning="id"
            )
        )

    def _constants(self, now: datetime) -> dict[str, Any]:
        """The columns every contact of the batch shares: held, in this cohort."""
        return {
            "campaign_id": self.cohort.campaign_id,
            "org_id": self.org_id,
            "cohort_id": self.cohort.id,
            "state": ContactState.WAITING.value,
            "next_due_at": None,
            "attempts": 0,
            "reason": COHORT_PENDING,
            "created_at": now,
            "updated_at": now,
        }

    def phone_owners(self, phones: Sequence[str]) -> dict[str, str | None]:
        k = t.contacts
        if not phones:
            return {}
        rows = self.conn.execute(
            sa.select(k.c.phone, k.c.cohort_id).where(
                k.c.campaign_id == self.cohort.campaign_id,
                bulk.among(self.conn, k.c.phone, phones),
                ~k.c.repeatable,
            )
        ).all()
        return {r.phone: r.cohort_id for r in rows}

    def add_rejected(self, part: int, data: bytes) -> None:
        self.conn.execute(
            t.cohort_files.insert().values(
                cohort_id=self.cohort.id, kind="rejected_records", part=part, data=data
            )
        )

    def advance(self, read: int, added: int, rejected: int, now: datetime) -> None:
        h = t.cohorts
        self.conn.execute(
            h.update()
            .where(h.c.id == self.cohort.id)
            .values(
                total_records=h.c.total_records + read,
                valid_records=h.c.valid_records + added,
                rejected_records=h.c.rejected_records + rejected,
                updated_at=now,
            )
        )
