"""A campaign's results, streamed: one row per contact or one per attempt.

Read with a server-side cursor on PostgreSQL (``stream_results``) and in partitions of
``EXPORT_BATCH`` rows everywhere, so a campaign of a million contacts is exported with
the memory of one partition, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase, is_postgres
from ringcast.records import AttemptResult, ContactResult

#: rows fetched from the database at a time
EXPORT_BATCH = 5_000
#: the text gathered from ``COPY`` before it is handed on
COPY_CHUNK_CHARS = 256 * 1024
#: a cell that would start a formula in a spreadsheet (``csvout.FORMULA_STARTS``)
FORMULA_START = r"^[-=+@\t\r]"


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
        k = t.contacts
        # A contact's latest attempt is number ``attempts - 1`` (numbers count from 0, and a
        # withdrawn attempt is deleted and uncounted): one probe of the (contact, number)
        # key per contact, no aggregate over the campaign's attempts.
        last = t.attempts.alias("last_attempt")
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
                k.outerjoin(
                    last, sa.and_(last.c.contact_id == k.c.id, last.c.number == k.c.attempts - 1)
                )
            )
            .where(k.c.campaign_id == campaign_id)
            .order_by(k.c.id)
        )
        for row in self._stream(query):
            yield ContactResult._make(row)

    def contact_results_csv(self, campaign_id: str, keys: Sequence[str]) -> Iterator[str] | None:
        """On PostgreSQL, the rows of ``contact_results`` as CSV text (no header) that the
        server writes itself with ``COPY``, ten times faster than reading them into Python;
        None elsewhere. The cells are those ``services.export`` writes, cell for cell (a
        test holds the two paths equal): customer text neutralised against CSV injection,
        times in ISO 8601 UTC with microseconds, empty cells for what is absent."""
        if self.engine.dialect.name != "postgresql":
            return None
        return self._copy_out(_contacts_as_text(campaign_id, keys))

    def _copy_out(self, query: sa.Select[Any]) -> Iterator[str]:
        with self.engine.connect() as conn:
            # COPY takes no parameters: the values are rendered as escaped SQL literals.
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            driver: Any = conn.connection.driver_connection
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy,
            ):
                pending: list[str] = []
                size = 0
                for row in copy:  # one row a message: no character is split between two
                    text = bytes(row).decode()[:-1] + "\r\n"  # RFC 4180 ends rows with CRLF
                    pending.append(text)
                    size += len(text)
                    if size >= COPY_CHUNK_CHARS:
                        yield "".join(pending)
                        pending, size = [], 0
                yield "".join(pending)

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


def _contacts_as_text(campaign_id: str, keys: Sequence[str]) -> sa.Select[Any]:
    """``contact_results`` as the CSV's text cells, computed by PostgreSQL."""
    k = t.contacts
    last = t.attempts.alias("last_attempt")
    context = [sa.func.jsonb_extract_path_text(k.c.context, key) for key in keys]
    return (
        sa.select(
            k.c.id,
            k.c.phone,
            _neutral(k.c.user_identifier),
            *(_neutral(cell) for cell in context),
            k.c.state,
            sa.func.nullif(k.c.reason, ""),
            k.c.attempts,
            last.c.outcome,
            _iso(sa.func.coalesce(last.c.dialed_at, last.c.due_at)),
            _iso(k.c.next_due_at),
        )
        .select_from(
            k.outerjoin(
                last, sa.and_(last.c.contact_id == k.c.id, last.c.number == k.c.attempts - 1)
            )
        )
        .where(k.c.campaign_id == campaign_id)
        .order_by(k.c.id)
    )


def _neutral(cell: Any) -> Any:
    """``csvout.neutralise`` in SQL; an empty text is absent (an empty cell either way)."""
    text = sa.func.nullif(cell, "")
    return sa.case((text.op("~")(FORMULA_START), sa.literal("'") + text), else_=text)


def _iso(moment: Any) -> Any:
    """``datetime.isoformat(timespec="microseconds")`` of a UTC time, in SQL."""
    return sa.func.to_char(sa.func.timezone("UTC", moment), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
