"""The planning transaction: one campaign planned and its dials recorded, all at once.

Lock order (PostgreSQL), the same in every transaction that takes these rows, so that
no two can wait for each other:

    1. the campaign's row, FOR UPDATE SKIP LOCKED: one worker plans a campaign at a
       time, so the pacing counters in its row hold exactly across all workers; a
       worker that finds it locked moves on to another campaign (``run_tick`` is None);
    2. the rows of the connections it routes to, FOR UPDATE, in id order: their shared
       counters hold across campaigns; a second campaign planning on the same
       connection waits for this step's counters. Their caller numbers' usage rows
       (``caller_number_usage``) are read and written under these locks and take none
       of their own: only a planning step that holds its connection's row touches them
       (and ``remove_connection``, which takes that row first), so the usage, and the caps
       per number, hold across campaigns and workers exactly like the counters.

Contacts and attempts are written after both (the contacts dialled are waiting ones,
which no call-end transaction touches). SQLite has no row locks: its transaction holds
the database's write lock from the start (``BEGIN IMMEDIATE``), and one dispatcher at a
time plans there (``acquire_lease``).

What to write comes from the core: ``decide`` (``core.step``) plans, and
``core.contacts.hold_numbers_in_call`` holds the contacts whose number is in a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ringcast.core.callers import CallerUsage
from ringcast.core.contacts import hold_numbers_in_call
from ringcast.core.lines import Line
from ringcast.core.model import Contact, ContactState
from ringcast.core.planner import CampaignSnapshot, contacts_wanted
from ringcast.core.states import LIVE_STATUSES
from ringcast.core.step import CALL_LEASE, TickWrites
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql import outbox
from ringcast.db.sql.base import SqlBase, for_update
from ringcast.db.sql.bulk import among, insert_rows, update_rows, upsert_rows
from ringcast.db.sql.compliance import phone_facts, policy_of
from ringcast.ports import Decide
from ringcast.records import Campaign, caller_caps
from ringcast.webhooks import outbox as fan_out

#: the status column's values for the campaigns a dispatcher plans
_LIVE = sorted(s.value for s in LIVE_STATUSES)


class PlanningSql(SqlBase):
    def earliest_wake(self) -> datetime | None:
        """When the next live campaign wants planning (drives virtual time)."""
        c = t.campaigns
        with self.engine.connect() as conn:
            at = conn.execute(
                sa.select(sa.func.min(c.c.next_wake_at)).where(c.c.status.in_(_LIVE))
            ).scalar()
        return at  # min() keeps the column type, so this is an aware UTC datetime

    def campaigns_to_plan(self, now: datetime, limit: int) -> list[str]:
        """Live campaigns whose wake-up time has come, most overdue first; campaigns due at
        the same moment by id, as the memory store orders them, so that campaigns sharing a
        connection's limits take them in the same order in the forecast and in production."""
        c = t.campaigns
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.c.id)
                .where(c.c.status.in_(_LIVE), c.c.next_wake_at <= now)
                .order_by(c.c.next_wake_at, c.c.id)
                .limit(limit)
            ).all()
        return [r.id for r in rows]

    def load_snapshot(
        self, campaign_id: str, now: datetime, horizon: timedelta, limit: int
    ) -> CampaignSnapshot | None:
        """The campaign as the planner would see it (without locking anything)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.campaigns).where(t.campaigns.c.id == campaign_id)
            ).first()
            if row is None:
                return None
            due, next_due_at = _due_contacts(conn, campaign_id, now + horizon, limit)
        return CampaignSnapshot(
            mapping.campaign(row).config, mapping.counters(row), due, next_due_at
        )

    def run_tick(
        self,
        campaign_id: str,
        now: datetime,
        horizon: timedelta,
        limit: int,
        decide: Decide,
        lease: timedelta = CALL_LEASE,
    ) -> TickWrites | None:
        """Plan one campaign and write the result in one transaction (see the module)."""
        c = t.campaigns
        with self._tx() as conn:
            query = sa.select(c).where(c.c.id == campaign_id)
            row = conn.execute(for_update(conn, query, skip_locked=True)).first()
            if row is None:
                return None
            campaign = mapping.campaign(row)
            counters = mapping.counters(row)
            limit = contacts_wanted(campaign.config, counters, now, horizon, limit)
            due, next_due_at = _due_contacts(conn, campaign_id, now + horizon, limit)
            busy = _phones_in_calls(conn, campaign.org_id, [x.phone for x in due])
            held = [x for x in due if x.phone in busy]
            due = [x for x in due if x.phone not in busy]
            policy = policy_of(conn, campaign)
            snapshot = CampaignSnapshot(
                campaign.config,
                counters,
                due,
                next_due_at,
                policy=policy,
                facts=phone_facts(conn, campaign.org_id, [x.phone for x in due], policy, now),
                lines=_lines(conn, campaign) if due else {},
            )
            writes = decide(snapshot, _prompt_variables(conn, campaign.agent_id))
            _write_tick(conn, campaign, writes, held, now, lease)
            return replace(
                writes,
                agent_id=campaign.agent_id,
                agent_version=campaign.agent_version,
                org_id=campaign.org_id,
            )

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the named lease; False while someone else holds it."""
        lease = t.dispatcher_leases
        with self._tx() as conn:
            row = conn.execute(sa.select(lease).where(lease.c.name == name)).first()
            if row is None:
                conn.execute(lease.insert().values(name=name, holder=holder, expires_at=now + ttl))
                return True
            if row.holder != holder and row.expires_at > now:
                return False
            conn.execute(
                lease.update()
                .where(lease.c.name == name)
                .values(holder=holder, expires_at=now + ttl)
            )
            return True


def _due_contacts(
    conn: sa.Connection, campaign_id: str, by: datetime, limit: int
) -> tuple[list[Contact], datetime | None]:
    """Up to ``limit`` waiting contacts due by ``by``, in due order, and when the next one is.

    Walks ``ix_contacts_due`` from its start, so the cost follows the due contacts.
    """
    k = t.contacts
    waiting = (k.c.campaign_id == campaign_id, k.c.state == ContactState.WAITING.value)
    rows = conn.execute(
        sa.select(k)
        .where(*waiting, k.c.next_due_at <= by)
        .order_by(k.c.next_due_at, k.c.id)
        .limit(limit + 1)
    ).all()
    if len(rows) > limit:
        return [mapping.contact(r) for r in rows[:limit]], rows[limit].next_due_at
    later = conn.execute(
        sa.select(sa.func.min(k.c.next_due_at)).where(*waiting, k.c.next_due_at > by)
    ).scalar_one_or_none()
    return [mapping.contact(r) for r in rows], later


def _phones_in_calls(conn: sa.Connection, org_id: str, phones: Sequence[str]) -> set[str]:
    """Which of these numbers the organization is calling right now (any campaign)."""
    a = t.attempts
    if not phones:
        return set()
    rows = conn.execute(
        sa.select(a.c.phone).where(
            a.c.org_id == org_id, a.c.state == mapping.DIALING, among(conn, a.c.phone, phones)
        )
    ).all()
    return {r.phone for r in rows}


def _prompt_variables(conn: sa.Connection, agent_id: str) -> list[str]:
    """The placeholders of the agent's latest prompt: the context keys a call carries."""
    v = t.agent_versions
    variables = conn.execute(
        sa.select(v.c.variables)
        .where(v.c.agent_id == agent_id)
        .order_by(v.c.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    return list(variables or [])


def _lines(conn: sa.Connection, campaign: Campaign) -> dict[str, Line]:
    """The registered connections the campaign routes to, locked until the step commits
    (the second lock of the module's order), with their caller numbers' usage."""
    wanted = sorted({r.connection_id for r in campaign.config.routes})
    if not wanted:
        return {}
    k = t.connections
    query = sa.select(k).where(k.c.org_id == campaign.org_id, k.c.id.in_(wanted)).order_by(k.c.id)
    rows = conn.execute(for_update(conn, query)).all()
    capped = [r.id for r in rows if caller_caps(r.settings or {}).any]
    usage = _caller_usage(conn, campaign.org_id, capped)
    return {row.id: mapping.line(row, usage.get(row.id, {})) for row in rows}


def _caller_usage(
    conn: sa.Connection, org_id: str, connection_ids: Sequence[str]
) -> dict[str, dict[str, CallerUsage]]:
    """What each caller number of these connections has dialled, by connection and number
    (only capped connections count: the others' numbers are never held back)."""
    if not connection_ids:
        return {}
    u = t.caller_number_usage
    rows = conn.execute(
        sa.select(u).where(u.c.org_id == org_id, u.c.connection_id.in_(connection_ids))
    ).all()
    usage: dict[str, dict[str, CallerUsage]] = {}
    for row in rows:
        usage.setdefault(row.connection_id, {})[row.number] = mapping.caller_usage(row)
    return usage


def _write_tick(
    conn: sa.Connection,
    campaign: Campaign,
    writes: TickWrites,
    held: Sequence[Contact],
    now: datetime,
    lease: timedelta,
) -> None:
    """Write what the step decided, and the contacts held because their number is busy."""
    c, k = t.campaigns, t.contacts
    waiting_held, wake_at = hold_numbers_in_call(held, writes.next_wake_at, now)
    values: dict[str, Any] = {"next_wake_at": wake_at}
    if writes.counters is not None:
        values.update(mapping.counters_values(writes.counters))
    if writes.status is not None:
        values.update(status=writes.status.value, updated_at=now)
        account = outbox.account_url(conn, campaign.org_id)
        outbox.queue(conn, fan_out.after_advance(campaign, writes.status, now, account))
    update_rows(
        conn,
        k,
        [mapping.contact_state_values(x, now) for x in waiting_held],
        only_if=("state", ContactState.WAITING.value),
    )
    conn.execute(c.update().where(c.c.id == campaign.id).values(**values))
    if writes.dials:
        insert_rows(
            conn,
            t.attempts,
            [
                {
                    **mapping.new_attempt_values(campaign.org_id, d.contact, d.attempt),
                    "lease_expires_at": d.dial_at + lease,
                }
                for d in writes.dials
            ],
        )
        update_rows(
            conn,
            k,
            [mapping.dialing_values(d.contact, now) for d in writes.dials],
            only_if=("state", ContactState.WAITING.value),
        )
    lines = t.connections
    for connection_id, line in writes.lines.items():
        conn.execute(
            lines.update()
            .where(lines.c.org_id == campaign.org_id, lines.c.id == connection_id)
            .values(next_slot_at=line.next_slot_at, in_flight=line.in_flight)
        )
    upsert_rows(
        conn,
        t.caller_number_usage,
        [
            mapping.caller_usage_values(campaign.org_id, connection_id, number, usage)
            for (connection_id, number), usage in sorted(
                writes.callers.items(), key=lambda kv: kv[0]
            )
        ],
        key=("org_id", "connection_id", "number"),
    )
    update_rows(
        conn,
        k,
        [mapping.contact_state_values(x, now) for x in writes.deferred],
        only_if=("state", ContactState.WAITING.value),
    )
