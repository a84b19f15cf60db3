"""Calls as the API surfaces and the gateways read them back, and the figures an operator
watches (``/metrics``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ringcast.core.model import ContactState
from ringcast.core.states import DIALLING_STATUSES
from ringcast.core.step import CallResult
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase
from ringcast.ports import Backlog, ConnectionInFlight
from ringcast.records import CallFilter, CallRecord

#: the most due contacts and pending webhooks ``/metrics`` counts (it reads "at least")
BACKLOG_CAP = 100_000


class CallsSql(SqlBase):
    def add_call_details(self, result: CallResult) -> bool:
        """Fill in what a later report knows about an ended call (Retell's analysis after
        its ``call_ended``): the transcript, summary and extracted values it carries replace
        what was recorded, its qualifiers join the recorded ones. The outcome, and so every
        decision taken on it (retries, webhooks, counters), stays. False when the attempt
        has not ended, is unknown, or the report adds nothing."""
        said: dict[str, Any] = {}
        if result.transcript:
            said["transcript"] = list(result.transcript)
        if result.summary:
            said["summary"] = result.summary
        if result.extracted:
            said["extracted"] = dict(result.extracted)
        a = t.attempts
        with self._tx() as conn:
            row = conn.execute(
                sa.select(a.c.qualifiers).where(
                    a.c.id == result.attempt_id, a.c.state != mapping.DIALING
                )
            ).first()
            if row is None:
                return False
            qualifiers = sorted(set(row.qualifiers) | result.qualifiers)
            if qualifiers != sorted(row.qualifiers):
                said["qualifiers"] = qualifiers
            if not said:
                return False
            conn.execute(a.update().where(a.c.id == result.attempt_id).values(**said))
        return True

    def get_call(self, attempt_id: str) -> CallRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_call_query().where(t.attempts.c.id == attempt_id)).first()
        return None if row is None else mapping.call(row)

    def list_calls(
        self, where: CallFilter, offset: int, limit: int
    ) -> tuple[list[CallRecord], int]:
        a, c = t.attempts, t.campaigns
        conditions: list[Any] = [a.c.org_id == where.org_id]
        if where.phone is not None:
            conditions.append(a.c.phone == where.phone)
        of_campaign: list[Any] = []  # conditions on the campaign's row
        if where.agent_id is not None:
            of_campaign.append(c.c.agent_id == where.agent_id)
        if where.campaign_name is not None:
            of_campaign.append(c.c.name == where.campaign_name)
        if where.since is not None:
            conditions.append(a.c.created_at >= where.since)
        if where.until is not None:
            conditions.append(a.c.created_at < where.until)
        column = {
            "created": a.c.created_at,
            "duration": a.c.duration_s,
            "phone": a.c.phone,
            "status": a.c.outcome,
        }[where.sort_by]
        order = column.desc() if where.descending else column.asc()
        # Every attempt has its campaign: without a condition on the campaign, the count
        # reads the attempts' index alone (an organization may have millions of calls).
        counted = a.join(c, c.c.id == a.c.campaign_id) if of_campaign else a
        with self.engine.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(counted).where(*conditions, *of_campaign)
            ).scalar_one()
            rows = conn.execute(
                _call_query()
                .where(*conditions, *of_campaign)
                .order_by(order, a.c.id)
                .offset(offset)
                .limit(limit)
            ).all()
        return [mapping.call(r) for r in rows], total

    def backlog(self, now: datetime, cap: int = BACKLOG_CAP) -> Backlog:
        """Operator figures (``/metrics``), each read by a query bounded in rows whatever
        the size of the tables (the plans are checked in tests/integration/test_schema.py):

        - due contacts: per dialling campaign (the ``status`` index), its waiting contacts
          due by ``now`` from the start of ``ix_contacts_due`` (a range scan that stops at
          the first contact not due), at most ``cap`` in all;
        - calls in flight: the ``dialing`` attempts (``state`` index), as many as there
          are live calls;
        - webhook backlog: pending deliveries, at most ``cap``; the oldest one's creation
          from the first entry of the partial ``ix_webhook_outbox_pending_age``;
        - connections: the registry's rows (one per registered connection), their
          counters as the planner keeps them.
        """
        a, o, n = t.attempts, t.webhook_outbox, t.connections
        pending = o.c.status == "pending"
        with self.engine.connect() as conn:
            due = min(cap, conn.execute(self._due_count(now, cap)).scalar_one() or 0)
            live = conn.execute(
                sa.select(sa.func.count()).where(a.c.state == mapping.DIALING)
            ).scalar_one()
            waiting = conn.execute(
                sa.select(sa.func.count()).select_from(
                    sa.select(o.c.id).where(pending).limit(cap).subquery()
                )
            ).scalar_one()
            oldest = conn.execute(sa.select(sa.func.min(o.c.created_at)).where(pending))
            loads = conn.execute(
                sa.select(n.c.org_id, n.c.id, n.c.in_flight, n.c.max_concurrent)
            ).all()
        return Backlog(
            due_contacts=due,
            in_flight_calls=live,
            webhook_backlog=waiting,
            oldest_webhook_at=oldest.scalar_one(),
            connections=tuple(ConnectionInFlight(*row) for row in loads),
            cap=cap,
        )

    def _due_count(self, now: datetime, cap: int) -> sa.Select[Any]:
        """Due contacts of the campaigns that dial, counted up to ``cap``: each campaign's
        are a range at the start of ``ix_contacts_due`` (campaign, next due), read with a
        LIMIT, so no campaign is read past ``cap`` and no contact past its due range.
        PostgreSQL stops the whole count at ``cap`` (LATERAL under a LIMIT); SQLite, which
        has no LATERAL, sums each campaign's capped count (a correlated subquery)."""
        c, k = t.campaigns, t.contacts
        dialling = c.c.status.in_([s.value for s in DIALLING_STATUSES])
        due_here = (
            sa.select(sa.literal(1).label("due"))
            .where(
                k.c.campaign_id == c.c.id,
                k.c.state == ContactState.WAITING.value,
                k.c.next_due_at <= now,
            )
            # in the index's order, so that the plan walks it and stops at the LIMIT
            # (without it PostgreSQL may read the table when it expects many due)
            .order_by(k.c.next_due_at)
            .limit(cap)
        )
        if self.engine.dialect.name == "postgresql":
            each = due_here.lateral("due_here")
            rows = sa.select(each.c.due).select_from(c.join(each, sa.true())).where(dialling)
            return sa.select(sa.func.count()).select_from(rows.limit(cap).subquery())
        capped = due_here.correlate(c).subquery()
        per_campaign = sa.select(sa.func.count()).select_from(capped).scalar_subquery()
        return sa.select(sa.func.sum(per_campaign)).where(dialling)


def _call_query() -> sa.Select[Any]:
    """Attempts joined with their campaign (agent, name) and contact (context)."""
    a, c, k = t.attempts, t.campaigns, t.contacts
    return sa.select(
        a,
        c.c.agent_id.label("agent_id"),
        c.c.name.label("campaign_name"),
        k.c.context.label("contact_context"),
    ).select_from(a.join(c, c.c.id == a.c.campaign_id).join(k, k.c.id == a.c.contact_id))
