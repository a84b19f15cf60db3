"""What the dashboard reads: contact tallies for a page of campaigns, a page of contacts
by number (keyset, on ``ux_contacts_campaign_phone``), a campaign's calls newest first (on
the attempts' ``(campaign_id, dialed_at)`` index), and the instants its charts plot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ringcast.core.model import Contact, ContactState
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase
from ringcast.db.sql.calls import _call_query
from ringcast.readouts import AttemptMark, ContactSearch, ContactTally
from ringcast.records import CallRecord

_FINAL = sorted(s.value for s in ContactState if s.is_final)


class DashboardSql(SqlBase):
    def contact_tallies(self, campaign_ids: Sequence[str]) -> dict[str, ContactTally]:
        """Each campaign's contacts by state, its held-back ones, its next due time: one
        grouped query on the ``(campaign_id, state)`` index for the whole page."""
        k = t.contacts
        query = (
            sa.select(
                k.c.campaign_id,
                k.c.state,
                sa.func.count(),
                sa.func.count(k.c.reason),
                sa.func.min(k.c.next_due_at),
            )
            .where(k.c.campaign_id.in_(list(campaign_ids)))
            .group_by(k.c.campaign_id, k.c.state)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all() if campaign_ids else []
        found: dict[str, tuple[dict[str, int], int, datetime | None]] = {}
        for campaign_id, state, n, with_reason, due in rows:
            by_state, held, next_due = found.get(campaign_id, ({}, 0, None))
            by_state[state] = int(n)
            if state == ContactState.WAITING.value:
                held, next_due = int(with_reason), _as_utc(due)
            found[campaign_id] = (by_state, held, next_due)
        return {c: ContactTally(by_state, held, due) for c, (by_state, held, due) in found.items()}

    def next_due_at(self, campaign_id: str) -> datetime | None:
        """When the campaign's earliest waiting contact is due (``ix_contacts_due``)."""
        k = t.contacts
        query = (
            sa.select(k.c.next_due_at)
            .where(
                k.c.campaign_id == campaign_id,
                k.c.state == ContactState.WAITING.value,
                k.c.next_due_at.is_not(None),
            )
            .order_by(k.c.next_due_at)
            .limit(1)
        )
        with self.engine.connect() as conn:
            found: datetime | None = conn.execute(query).scalar()
        return found

    def search_contacts(self, search: ContactSearch) -> list[Contact]:
        """A page of contacts in number order: the unique ``(campaign_id, phone)`` index
        gives the order and the start, so the page costs the same on page 1 and 2,000."""
        k = t.contacts
        where: list[Any] = [k.c.campaign_id == search.campaign_id, sa.not_(k.c.repeatable)]
        if search.state is not None:
            where.append(k.c.state == search.state)
        if search.reason is not None:
            where.append(k.c.reason == search.reason)
        if search.number:
            start = "+" + search.number.lstrip("+")
            # every number that starts so: [start, start + the highest character)
            where += [k.c.phone >= start, k.c.phone < start + "\uffff"]
        if search.after is not None:
            where.append(k.c.phone > search.after)
        query = sa.select(k).where(*where).order_by(k.c.phone).limit(search.limit)
        return self._all(query, mapping.contact)

    def campaign_calls(self, campaign_id: str, offset: int, limit: int) -> list[CallRecord]:
        """The campaign's dialled attempts, the latest first."""
        a = t.attempts
        order = (a.c.dialed_at.desc(), a.c.id.desc())
        # the page's ids first, from the (campaign_id, dialed_at) index alone; then the
        # joins for those rows only (joined first, PostgreSQL sorted the whole campaign)
        page = (
            sa.select(a.c.id)
            .where(a.c.campaign_id == campaign_id, a.c.dialed_at.is_not(None))
            .order_by(*order)
            .offset(offset)
            .limit(limit)
            .scalar_subquery()
        )
        query = _call_query().where(a.c.id.in_(page)).order_by(*order)
        with self.engine.connect() as conn:
            return [mapping.call(r) for r in conn.execute(query).all()]

    def attempt_marks(self, campaign_id: str) -> list[AttemptMark]:
        """Every dialled attempt's time and outcome, in time order (two columns only)."""
        a = t.attempts
        query = (
            sa.select(a.c.dialed_at, a.c.outcome)
            .where(a.c.campaign_id == campaign_id, a.c.dialed_at.is_not(None))
            .order_by(a.c.dialed_at)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [AttemptMark(at, outcome) for at, outcome in rows]

    def final_marks(self, campaign_id: str) -> list[datetime]:
        """When each final contact became final (its last change), in time order."""
        k = t.contacts
        query = (
            sa.select(k.c.updated_at)
            .where(k.c.campaign_id == campaign_id, k.c.state.in_(_FINAL))
            .order_by(k.c.updated_at)
        )
        with self.engine.connect() as conn:
            return [at for (at,) in conn.execute(query).all()]


def _as_utc(value: datetime | None) -> datetime | None:
    """An aggregate's instant, aware (SQLite's ``min`` can come back naive, in UTC)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
