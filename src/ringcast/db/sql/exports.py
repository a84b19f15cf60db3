"""A campaign's results, streamed: one row per contact or one per attempt.

Read with a server-side cursor on PostgreSQL (``stream_results``) and in partitions of
``EXPORT_BATCH`` rows everywhere, so a campaign of a million contacts is exported with
the memory of one partition, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase, is_postgres
from ringcast.records import AttemptResult, ContactResult

#: rows fetched from the database at a time
EXPORT_BATCH = 5_000


class ExportsSql(SqlBase):
    def context_keys(self, campaign_id: str) -> list[str]:
        """Every key of the campaign's contacts' context, sorted (the export's columns)."""
        with self.engine.connect() as conn:
            if is_postgres(conn):
                query = sa.text(
                    "SELECT DISTINCT jsonb_object_keys(context) FROM contacts"
                    " WHERE campaign_id = :campaign_id"
                )
            else:
                query = sa.text(
                    "SELECT DISTINCT j.key FROM contacts, json_each(contacts.context) AS j"
                    " WHERE contacts.campaign_id = :campaign_id"
                )
            keys = conn.execute(query, {"campaign_id": campaign_id}).scalars().all()
        return sorted(str(k) for k in keys)

    def contact_results(self, campaign_id: str) -> Iterator[ContactResult]:
        """The campaign's contacts with their latest attempt's outcome, in id order."""
        k, a = t.contacts, t.attempts
        latest = (
            sa.select(a.c.contact_id, sa.func.max(a.c.number).label("number"))
            .where(a.c.campaign_id == campaign_id)
            .group_by(a.c.contact_id)
            .subquery()
        )
        last = a.alias("last_attempt")
        query = (
            sa.select(
                k.c.id,
                k.c.phone,
                k.c.user_identifier,
                k.c.context,
                k.c.state,
                k.c.reason,
                k.c.attempts,
                k.c.next_due_at,
                last.c.outcome,
                sa.func.coalesce(last.c.dialed_at, last.c.due_at),
            )
            .select_from(
                k.outerjoin(latest, latest.c.contact_id == k.c.id).outerjoin(
                    last,
                    sa.and_(last.c.contact_id == k.c.id, last.c.number == latest.c.number),
                )
            )
            .where(k.c.campaign_id == campaign_id)
            .order_by(k.c.id)
        )
        for row in self._stream(query):
            yield ContactResult._make(row)

    def attempt_results(self, campaign_id: str) -> Iterator[AttemptResult]:
        """The campaign's attempts, by contact then attempt number."""
        a = t.attempts
        query = (
            sa.select(
                a.c.id,
                a.c.contact_id,
                a.c.phone,
                a.c.number,
                a.c.state,
                a.c.outcome,
                a.c.due_at,
                a.c.dialed_at,
                a.c.answered_at,
                a.c.ended_at,
                a.c.duration_s,
                a.c.connection_id,
                a.c.caller_number,
                a.c.answered_by,
                a.c.retry_rule,
                a.c.failure_reason,
            )
            .where(a.c.campaign_id == campaign_id)
            .order_by(a.c.contact_id, a.c.number)
        )
        for row in self._stream(query):
            yield AttemptResult._make(row)

    def _stream(self, query: sa.Select[Any]) -> Iterator[sa.Row[Any]]:
        """``query``'s rows, ``EXPORT_BATCH`` at a time; the connection is given back when
        the consumer stops early (a client that hangs up closes the generator)."""
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=EXPORT_BATCH).execute(
                query
            )
            for partition in result.partitions():
                yield from partition
