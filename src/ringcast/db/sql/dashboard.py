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
from ringcast.readouts import QUARTER_S, ContactSearch, ContactTally, QuarterCount
from ringcast.records import CallRecord

_FINAL = sorted(s.value for s in ContactState if s.is_final)


class DashboardSql(SqlBase):
    def contact_tallies(self, campaign_ids: Sequence[str]) -> dict[str, ContactTally]:
        """Each campaign's contacts by state, its held-back ones, its next due time: one
        grouped query for the whole page. It reads every contact of those campaigns (through
        ``(campaign_id, created_at, id)``: migration 0012 dropped the ``(campaign_id, state)``
        index to spare the dispatcher's writes), about 180 ms at 100,000 on SQLite."""
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
        return self._all(contact_page_query(search), mapping.contact)

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

    def attempt_quarters(self, campaign_id: str) -> list[QuarterCount]:
        """Dialled attempts counted by quarter hour and outcome, in the database."""
        a = t.attempts
        quarter = self._quarter(a.c.dialed_at)
        query = (
            sa.select(quarter, a.c.outcome, sa.func.count())
            .where(a.c.campaign_id == campaign_id, a.c.dialed_at.is_not(None))
            .group_by(quarter, a.c.outcome)
            .order_by(quarter)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [QuarterCount(_instant(q), outcome, int(n)) for q, outcome, n in rows]

    def final_quarters(self, campaign_id: str) -> list[QuarterCount]:
        """Final contacts counted by the quarter hour of their last change."""
        k = t.contacts
        quarter = self._quarter(k.c.updated_at)
        query = (
            sa.select(quarter, sa.func.count())
            .where(k.c.campaign_id == campaign_id, k.c.state.in_(_FINAL))
            .group_by(quarter)
            .order_by(quarter)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [QuarterCount(_instant(q), None, int(n)) for q, n in rows]

    def _quarter(self, column: Any) -> Any:
        """The Unix second at which ``column``'s quarter hour starts, in SQL."""
        if self.engine.dialect.name == "postgresql":
            epoch = sa.func.floor(sa.extract("epoch", column) / QUARTER_S)
            return sa.cast(epoch, sa.BigInteger) * QUARTER_S
        # SQLite: integer division of the Unix seconds (times are stored in UTC)
        return sa.cast(sa.func.strftime("%s", column), sa.Integer) // QUARTER_S * QUARTER_S


def contact_page_query(search: ContactSearch) -> sa.Select[Any]:
    """``search_contacts``' statement (tests read its plan)."""
    k = t.contacts
    # written as the index's own condition: SQLAlchemy's ``repeatable = 0`` on SQLite
    # does not match it, and the page became a scan and a sort of the whole campaign
    where: list[Any] = [k.c.campaign_id == search.campaign_id, sa.text("NOT contacts.repeatable")]
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
    return sa.select(k).where(*where).order_by(k.c.phone).limit(search.limit)


def _instant(unix: int) -> datetime:
    return datetime.fromtimestamp(int(unix), UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    """An aggregate's instant, aware (SQLite's ``min`` can come back naive, in UTC)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
