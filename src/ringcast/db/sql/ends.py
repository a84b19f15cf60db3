"""The call-end transaction: calls' ends recorded in batches, with their contacts' next
states, what the people said, the webhooks they make and the places they free. Also the
two other ways an attempt stops: withdrawn before dialling, or found lost.

Lock order (PostgreSQL), compatible with the planning transaction's (``planning``):

    1. the attempts' rows, FOR UPDATE, in id order: two workers ending overlapping
       batches cannot deadlock, and a repeated report finds its attempt already ended;
    2. their contacts' rows, by the UPDATE (contacts in a call, which planning never
       writes);
    3. the campaigns' rows, FOR UPDATE, in id order (a batch of several campaigns
       first takes those it can have at once, SKIP LOCKED, and writes the ends of the
       others in a transaction per campaign, so that it never waits for one campaign's
       planning while holding the others: ``end_attempts``), and
    4. the connections' rows, by the UPDATE, in (organization, id) order: the rows
       planning locks, taken last to be held for the shortest time, in the order a
       planning step takes them (its campaign, then its connections), so that the two
       never wait for each other. Planning skips a campaign it finds locked.

What to write comes from the core: the ``Finish`` rule given with each end, then
``core.contacts.wake_after_ends`` for the campaign, ``core.compliance.what_was_said`` for
the records and ``webhooks.outbox.call_ended`` for the deliveries. The campaign's counters
are read under their lock and written back whole: the answer does not depend on what
another transaction wrote in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ringcast.core.contacts import (
    counters_after_withdrawal,
    earliest,
    wake_after_ends,
    withdraw,
)
from ringcast.core.model import Attempt, Contact
from ringcast.core.step import CallResult, Finish
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql import outbox
from ringcast.db.sql.base import SqlBase, for_update, greatest, is_postgres
from ringcast.db.sql.bulk import among, update_rows
from ringcast.db.sql.compliance import record_what_was_said
from ringcast.ports import End
from ringcast.records import Campaign
from ringcast.webhooks import outbox as fan_out

#: one recorded end: the contact's next state, the ended attempt, and what was said
#: (transcript, summary, extracted variables) for the attempt's row
_Written = tuple[Contact, Attempt, Mapping[str, Any]]


class EndsSql(SqlBase):
    def end_attempt(self, result: CallResult, finish: Finish) -> tuple[Contact, Attempt] | None:
        """Record a call's end and its contact's next state; None if it was already recorded."""
        return self.end_attempts([(result, finish)])[0]

    def end_attempts(self, ends: Sequence[End]) -> list[tuple[Contact, Attempt] | None]:
        """Record many calls' ends (the dispatcher's group commit).

        Each end gives what ``end_attempt`` would have, in order: None for an attempt
        that is unknown or already ended (a repeated report: the first one counted).
        The rows are read a table at a time and written with one statement per table,
        so a batch costs a handful of round trips instead of seven per call.

        A batch of several campaigns' ends (many tenants) is written in one transaction
        for the campaigns whose rows are free, and one more for each campaign that
        another worker is planning at that moment: a batch never holds the rows of the
        campaigns it has while it waits for one it has not, which would keep every
        worker from planning them meanwhile (``planning`` skips a locked campaign).
        """
        if not ends:
            return []
        out: dict[int, tuple[Contact, Attempt] | None] = {}
        busy = self._end_together(list(enumerate(ends)), out, skip_busy=True)
        for campaign_id in sorted(busy):
            self._end_together(busy[campaign_id], out, skip_busy=False)
        return [out[i] for i in range(len(ends))]

    def _end_together(
        self,
        ends: Sequence[tuple[int, End]],
        out: dict[int, tuple[Contact, Attempt] | None],
        *,
        skip_busy: bool,
    ) -> dict[str, list[tuple[int, End]]]:
        """Record ``ends`` (numbered) in one transaction, each one's result in ``out``.

        With ``skip_busy``, the ends of a batch of several campaigns whose campaign's row
        is locked are not written: they are returned, by campaign, for a transaction of
        their own.
        """
        a = t.attempts
        busy: dict[str, list[tuple[int, End]]] = {}
        with self._tx() as conn:
            ids = sorted({r.attempt_id for _, (r, _) in ends})
            query = sa.select(a).where(among(conn, a.c.id, ids)).order_by(a.c.id)
            live = {
                r.id: mapping.attempt(r)
                for r in conn.execute(for_update(conn, query)).all()
                if r.state == mapping.DIALING
            }
            free = {x.campaign_id for x in live.values()}
            if skip_busy and len(free) > 1 and is_postgres(conn):
                free = _lock_free_campaigns(conn, free)
            mine = []
            for i, end in ends:
                attempt = live.get(end[0].attempt_id)
                if attempt is not None and attempt.campaign_id not in free:
                    busy.setdefault(attempt.campaign_id, []).append((i, end))
                else:
                    mine.append((i, end))
            live = {k: x for k, x in live.items() if x.campaign_id in free}
            if not live:
                out.update((i, None) for i, _ in mine)
                return busy
            for (i, _), done in zip(mine, _end_live(conn, [e for _, e in mine], live), strict=True):
                out[i] = done
        return busy

    def withdraw_attempt(self, attempt_id: str, until: datetime, reason: str) -> bool:
        """Take back an attempt recorded but never dialled (the pre-dial hook said not now).

        The row goes (no call was placed, so it counts towards no cap and no retry
        budget), and the contact waits again until ``until`` with ``reason``
        (``core.contacts.withdraw``). Locks in the module's order.
        """
        a, k, c = t.attempts, t.contacts, t.campaigns
        with self._tx() as conn:
            row = conn.execute(for_update(conn, sa.select(a).where(a.c.id == attempt_id))).first()
            if row is None or row.state != mapping.DIALING:
                return False
            attempt = mapping.attempt(row)
            campaign = mapping.campaign(
                conn.execute(sa.select(c).where(c.c.id == row.campaign_id)).one()
            )
            contact = mapping.contact(
                conn.execute(sa.select(k).where(k.c.id == row.contact_id)).one()
            )
            back = withdraw(contact, attempt, campaign.config.status, until, reason)
            conn.execute(a.delete().where(a.c.id == attempt_id))
            conn.execute(
                k.update()
                .where(k.c.id == back.id)
                .values(
                    state=back.state.value,
                    attempts=back.attempts,
                    next_due_at=back.next_due_at,
                    reason=back.reason,
                    updated_at=until,
                )
            )
            locked = conn.execute(for_update(conn, sa.select(c).where(c.c.id == campaign.id))).one()
            counters = counters_after_withdrawal(
                mapping.counters(locked), campaign.config.pacing, attempt
            )
            conn.execute(
                c.update()
                .where(c.c.id == campaign.id)
                .values(
                    in_flight=counters.in_flight,
                    dialed_today=counters.dialed_today,
                    next_wake_at=earliest(locked.next_wake_at, until),
                )
            )
            _release_lines(conn, [(row.org_id, row.connection_id)])
        return True

    def expired_attempts(self, now: datetime, limit: int) -> list[str]:
        """Attempts still dialling past their lease: their worker died or lost the outcome."""
        a = t.attempts
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.c.id)
                .where(a.c.state == mapping.DIALING, a.c.lease_expires_at < now)
                .order_by(a.c.lease_expires_at)
                .limit(limit)
            ).all()
        return [r.id for r in rows]


def _lock_free_campaigns(conn: sa.Connection, ids: set[str]) -> set[str]:
    """Lock those of these campaigns' rows that no other transaction holds, in id order
    (the first lock of the module's order, never waited for); returns their ids."""
    c = t.campaigns
    query = sa.select(c.c.id).where(c.c.id.in_(sorted(ids))).order_by(c.c.id)
    return {r.id for r in conn.execute(for_update(conn, query, skip_locked=True)).all()}


def _end_live(
    conn: sa.Connection, ends: Sequence[End], live: dict[str, Attempt]
) -> list[tuple[Contact, Attempt] | None]:
    """Write the ends of these ``live`` attempts (locked, still in a call), in order:
    None for an end of no live attempt, or the second end of one."""
    contacts = _contacts(conn, {x.contact_id for x in live.values()})
    earlier = _earlier_attempts(conn, live.values())
    campaigns = _campaigns(conn, {x.campaign_id for x in live.values()})
    out: list[tuple[Contact, Attempt] | None] = []
    written: list[_Written] = []
    for result, finish in ends:
        attempt = live.pop(result.attempt_id, None)  # a second report in the batch: None
        if attempt is None:
            out.append(None)
            continue
        campaign = campaigns[attempt.campaign_id]
        history = [x for x in earlier.get(attempt.contact_id, ()) if x.number < attempt.number]
        new_contact, ended = finish(
            campaign.config.status, campaign.config, contacts[attempt.contact_id], history, attempt
        )
        out.append((new_contact, ended))
        written.append((new_contact, ended, _said(result)))
    _write_ends(conn, written)
    accounts = outbox.account_urls(conn, {x.org_id for x in campaigns.values()})
    deliveries: list[fan_out.NewDelivery] = []
    for new_contact, ended, _ in written:
        campaign = campaigns[ended.campaign_id]
        record_what_was_said(conn, campaign.org_id, new_contact.phone, ended)
        deliveries += fan_out.call_ended(campaign, ended, accounts.get(campaign.org_id))
    outbox.queue(conn, deliveries)
    _free_places(conn, written, campaigns)
    _release_lines(
        conn, [(campaigns[e.campaign_id].org_id, e.connection_id) for _, e, _ in written]
    )
    return out


def _said(result: CallResult) -> dict[str, Any]:
    """What the person said, as the gateway reported it, for the attempt's row."""
    return {
        "transcript": list(result.transcript) or None,
        "summary": result.summary,
        "extracted": dict(result.extracted) or None,
    }


def _contacts(conn: sa.Connection, ids: set[str]) -> dict[str, Contact]:
    k = t.contacts
    rows = conn.execute(sa.select(k).where(among(conn, k.c.id, sorted(ids)))).all()
    return {x.id: x for x in map(mapping.contact, rows)}


def _earlier_attempts(conn: sa.Connection, live: Iterable[Attempt]) -> dict[str, list[Attempt]]:
    """The ended attempts of the contacts of these ``live`` ones, oldest first: the retry
    policy reads them (a first attempt has none, so its contact is not asked about)."""
    a = t.attempts
    called_before = sorted({x.contact_id for x in live if x.number > 0})
    earlier: dict[str, list[Attempt]] = {}
    if called_before:
        for row in conn.execute(
            sa.select(a)
            .where(among(conn, a.c.contact_id, called_before), a.c.state == mapping.ENDED)
            .order_by(a.c.contact_id, a.c.number)
        ).all():
            earlier.setdefault(row.contact_id, []).append(mapping.attempt(row))
    return earlier


def _campaigns(conn: sa.Connection, ids: set[str]) -> dict[str, Campaign]:
    c = t.campaigns
    rows = conn.execute(sa.select(c).where(c.c.id.in_(ids))).all()
    return {x.id: x for x in map(mapping.campaign, rows)}


def _write_ends(conn: sa.Connection, ends: Sequence[_Written]) -> None:
    """Attempts' ends, with what was said, and their contacts' next states."""
    update_rows(conn, t.attempts, [mapping.ended_values(e, said) for _, e, said in ends])
    update_rows(conn, t.contacts, [mapping.contact_state_values(k, e.ended_at) for k, e, _ in ends])


def _free_places(
    conn: sa.Connection, ends: Sequence[_Written], campaigns: Mapping[str, Campaign]
) -> None:
    """The campaigns' calls in flight once these calls ended, and when each should plan
    again (``core.contacts.wake_after_ends``), from their counters read under lock."""
    c = t.campaigns
    by_campaign: dict[str, list[tuple[Contact, Attempt]]] = {}
    for contact, ended, _ in ends:
        by_campaign.setdefault(ended.campaign_id, []).append((contact, ended))
    query = (
        sa.select(c.c.id, c.c.in_flight, c.c.next_wake_at)
        .where(c.c.id.in_(sorted(by_campaign)))
        .order_by(c.c.id)
    )
    freed = []
    for row in conn.execute(for_update(conn, query)).all():
        max_concurrent = campaigns[row.id].config.pacing.max_concurrent
        in_flight, wake_at = wake_after_ends(max_concurrent, row.in_flight, by_campaign[row.id])
        freed.append(
            {
                "id": row.id,
                "in_flight": in_flight,
                "next_wake_at": earliest(row.next_wake_at, wake_at),
            }
        )
    # one statement for every campaign of the batch (a batch of many tenants' ends spans
    # many campaigns), under the locks just taken
    update_rows(conn, c, freed)


def _release_lines(conn: sa.Connection, ended: Sequence[tuple[str, str | None]]) -> None:
    """Give back a place on each (organization, connection) whose call ended."""
    freed: dict[tuple[str, str], int] = {}
    for org_id, connection_id in ended:
        if connection_id is not None:
            freed[(org_id, connection_id)] = freed.get((org_id, connection_id), 0) + 1
    k = t.connections
    for (org_id, connection_id), n in sorted(freed.items()):
        conn.execute(
            k.update()
            .where(k.c.org_id == org_id, k.c.id == connection_id)
            .values(in_flight=greatest(conn)(k.c.in_flight - n, 0))
        )
